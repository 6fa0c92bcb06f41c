import type { ExportColumn, ExportTable } from "./format.js";
import type { DecodedValue } from "./values.js";

/**
 * A database opened for import. Everything an import does happens inside ONE transaction that
 * `begin` opens (PostgreSQL: BEGIN + SET CONSTRAINTS ALL DEFERRED; SQLite: BEGIN IMMEDIATE with
 * foreign keys checked at commit), and nothing is visible to anyone else before `commit`.
 *
 * The shape of an import (transfer/import.ts drives it, the same for every engine):
 *
 *   target.begin()
 *   target.fingerprint(tables)                                  // --plan: the target is as planned
 *   [--create-schema]  target.createTables(tables)             // only tables the target lacks
 *   for each table in dependency order:
 *     conversions = columns.map(c => target.conversion(exportColumn, targetColumn, sample))
 *     target.stage(table, columns, convertedRows, load?)        // COPY / batched inserts into a
 *                                                              // session-local staging table (PostgreSQL,
 *                                                              // applying: COPY into a table empty under a lock)
 *     target.compare(table, key, columns, sampleLimit)          // the plan's numbers for this table
 *   target.orphans(tables)                                      // foreign keys the import would break
 *   --dry-run: target.rollback()   (the target's data never changed: staging is session-local)
 *   else for each table: target.apply(table, key, columns, strategy); target.advanceSequences(table)
 *        target.commit()           (foreign keys checked here; a failure rolls everything back)
 *
 * A target whose staging takes no lock (`stagesBeforeBegin`: SQLite's temp schema) has every
 * table converted and staged BEFORE begin(), when no table is to be created; then begin(),
 * fingerprint, compare each table — the plan is computed under the write lock either way.
 *
 * Staging tables are temporary (PostgreSQL TEMP tables, SQLite's temp schema): they never touch
 * the target's data files, so a dry run leaves the target byte-for-byte as it was.
 * Nothing is ever deleted from the target: apply only inserts and updates staged keys.
 */
export interface ImportTarget {
  engine: "sqlite" | "postgres";
  /** The target without credentials, for messages and reports. */
  uri: string;
  /**
   * True when staging needs neither the transaction nor the target's write lock (SQLite: the temp
   * schema is the connection's own), so the driver stages before begin() and an application's
   * writers are held up only while the import compares and applies. False for PostgreSQL: its
   * staging tables live in the transaction, and a direct load needs the table's lock first.
   */
  readonly stagesBeforeBegin: boolean;
  /** The target's application tables, described like an export's schema (the same reader code). */
  tables(): Promise<ExportTable[]>;
  begin(): Promise<void>;
  /** --create-schema: create these tables (types mapped per docs/export-import.md from the `source` engine's), keys and foreign keys included. */
  createTables(tables: readonly ExportTable[], source?: "sqlite" | "postgres"): Promise<void>;
  /**
   * How one exported column's values become this target column's values. `sample` is the first
   * values of the column in the export (up to 1,000): declared BOOLEAN/DATETIME columns of SQLite are
   * detected from them (0/1, ISO text, epoch seconds or milliseconds). A value that cannot convert
   * throws ConversionError (the row goes to the reject file, or the import stops with --strict).
   */
  conversion(from: ExportColumn, to: ExportColumn, sample: readonly DecodedValue[]): ColumnConversion;
  /**
   * Loads converted rows, in batches, into the staging table of `table` (created here, with `columns`). Returns the rows staged.
   * `load` (only when the import applies: not a dry run, not --plan-out): the target may instead
   * write the rows straight into `table` when, locked against other writers, it holds no row
   * (PostgreSQL); compare then counts every row as an insert and apply writes nothing more.
   */
  stage(table: string, columns: readonly string[], rows: AsyncIterable<StageBatch>, load?: DirectLoad): Promise<number>;
  /** True when stage() also takes rows as COPY text (CopyText batches: PostgreSQL); else it gets rows of values only. */
  readonly copyText?: boolean;
  /** Staging against the table, by `key` (primary key or a named unique key), over `columns`. */
  compare(table: string, key: readonly string[], columns: readonly string[], sampleLimit: number): Promise<TableComparison>;
  /** Writes the staged rows by strategy; never deletes. `fail` throws HoldfastError IMPORT_CONFLICT before writing anything of this table. */
  apply(table: string, key: readonly string[], columns: readonly string[], strategy: Strategy): Promise<TableResult>;
  /** Moves the table's sequences / identity / AUTOINCREMENT counters past the largest value in their columns. */
  advanceSequences(table: string): Promise<void>;
  /** Rows (target + staged-to-be-written) whose foreign keys point at no row, per foreign key, with a few keys. */
  orphans(tables: readonly string[], strategy: Strategy): Promise<Orphans[]>;
  /** SHA-256 over these tables' rows in key order: the plan's "target unchanged" proof. */
  fingerprint(tables: readonly string[]): Promise<string>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  /** Rolls back an open transaction and closes; safe to call twice. */
  close(): Promise<void>;
}

/** What a target needs to know to write a table's rows straight into it (ImportTarget.stage). */
export interface DirectLoad {
  /** Selected tables staged after this one (dependency order): a row may reference theirs only through a deferred foreign key. */
  pending: readonly string[];
}

export type Strategy = "skip" | "overwrite" | "merge" | "fail";
export const STRATEGIES: readonly Strategy[] = ["skip", "overwrite", "merge", "fail"];

/** What a driver binds: JSON goes as its text, timestamps as ISO text, booleans as the engine wants them. */
export type TargetValue = null | bigint | number | string | boolean | Buffer;

/** Rows already written in PostgreSQL's COPY text format (ndjson-copy.ts): `rows` whole lines, the columns in the staged order. */
export interface CopyText {
  copyText: Buffer;
  rows: number;
}

/** A batch of rows for stage(): values, or (for a target with `copyText`) COPY text. */
export type StageBatch = TargetValue[][] | CopyText;

export interface ColumnConversion {
  /** For the plan, when the value changes form: "DATETIME (epoch milliseconds) → timestamp with time zone". */
  description?: string;
  /** One value converted; the first one of the sample, for the plan. */
  convert(value: DecodedValue): TargetValue;
}

/** A value that cannot become the target column's type: the row is rejected (reject file) unless --strict. */
export class ConversionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConversionError";
  }
}

export interface TableComparison {
  /** Staged keys the table lacks. */
  insert: number;
  /** Staged rows equal to the table's row over `columns`. */
  unchanged: number;
  /** Staged rows whose key exists with different values (what skip skips, overwrite/merge update, fail refuses). */
  conflict: number;
  /** A few conflicting rows: the key and, per differing column, the table's and the export's value (as text). */
  samples: { key: Record<string, string | null>; differences: { column: string; target: string | null; export: string | null }[] }[];
}

export interface TableResult {
  inserted: number;
  updated: number;
  unchanged: number;
  skipped: number;
}

export interface Orphans {
  table: string;
  foreignKey: string;
  references: string;
  count: number;
  /** A few of the orphan rows' keys, as text. */
  samples: string[];
}
