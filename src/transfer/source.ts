import type { ExportTable } from "./format.js";
import type { JsonValue } from "./values.js";
import type { RowTally } from "./ndjson.js";

/**
 * A database opened for export: one consistent read snapshot (PostgreSQL: a REPEATABLE READ READ
 * ONLY transaction; SQLite: one read transaction) in which the schema, the sequences and every
 * table's rows are read. Rows stream (flat memory) already encoded for the NDJSON (values.ts).
 */
export interface ExportSource {
  engine: "sqlite" | "postgres";
  /** The source without credentials. */
  uri: string;
  version: string;
  /** The newest applied migration of the Holdfast history table, when there is one. */
  migrationVersion?: number;
  /** Every application table (the Holdfast history table left out), schema read in the snapshot. */
  tables: ExportTable[];
  /** One table's rows (optionally only those matching a SQL condition) in batches, values in column order. */
  rows(table: ExportTable, where?: string): AsyncIterable<JsonValue[][]>;
  /**
   * The same rows as NDJSON bytes the database writes itself (values exactly as rows() encodes
   * them), counted into `tally`; undefined when this table's columns need rows().
   */
  ndjson?(table: ExportTable, where: string | undefined, tally: RowTally): AsyncIterable<Buffer> | undefined;
  /** Ends the snapshot and closes the connection; safe to call twice. */
  close(): Promise<void>;
}

/** Tables in dependency order: a table after the tables its foreign keys reference (cycles: by name). */
export function dependencyOrder(tables: readonly ExportTable[]): ExportTable[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: ExportTable[] = [];
  const visit = (t: ExportTable): void => {
    if (done.has(t.name) || visiting.has(t.name)) return;
    visiting.add(t.name);
    for (const fk of t.foreignKeys) {
      const parent = byName.get(fk.references.table);
      if (parent && parent !== t) visit(parent);
    }
    visiting.delete(t.name);
    done.add(t.name);
    out.push(t);
  };
  for (const t of [...tables].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) visit(t);
  return out;
}
