import { z } from "zod";

/**
 * The Holdfast export format, version 1 (docs/export-import.md). An export is a set of named
 * streams, the same in the repository (one stored file each) and in a portable file (one tar entry
 * each, in this order):
 *
 *   export.json            the manifest: format version, source, filter, per-table rows + SHA-256
 *   schema.json            tables, columns, keys, foreign keys, sequences (ExportSchema)
 *   tables/<n>.ndjson      one line per row: a JSON array of the row's values in column order,
 *                          each encoded by its column's normalized type (values.ts)
 *
 * Readers refuse a formatVersion above EXPORT_FORMAT_VERSION (TOOL_VERSION), and every table
 * stream must have exactly the bytes, SHA-256 and row count export.json records (CORRUPTED /
 * TRUNCATED). A change a version-1 reader could misread bumps the version.
 */
export const EXPORT_FORMAT_VERSION = 1 as const;

export const EXPORT_MANIFEST_NAME = "export.json";
export const SCHEMA_NAME = "schema.json";

/** The stream name of a table: tables/<index>-<safe name>.ndjson (index keeps names unique). */
export function tableStreamName(index: number, table: string): string {
  return `tables/${String(index).padStart(4, "0")}-${table.replace(/[^A-Za-z0-9_.-]/g, "_")}.ndjson`;
}

/**
 * Normalized types: how a value is written (values.ts), whatever the engine called it.
 *  integer   JSON number when |n| ≤ 2^53−1, else a string of decimal digits ("-9223372036854775808")
 *  decimal   string, exactly as the database printed it ("12.50", "NaN")
 *  float     JSON number; "NaN", "Infinity", "-Infinity" as strings
 *  boolean   true / false
 *  text      string
 *  bytes     base64 string
 *  timestamptz  ISO 8601 in UTC with its zone: "2026-11-24T10:00:00.123456Z"
 *  timestamp ISO 8601 without zone (the column has none): "2026-11-24T10:00:00"
 *  date      "2026-11-24"; time / timetz / interval / uuid / other: the database's text form
 *  json      the JSON document itself; a document that is `null`, or an object whose only key is
 *            "$json", is wrapped as {"$json": document} (so SQL NULL stays distinguishable)
 *  numeric   SQLite NUMERIC affinity (and columns with no type): a JSON number (integer or not)
 *  any       SQLite columns declared with no type or BLOB: the value by its own storage class
 * A SQLite value whose storage class differs from its column's type is written
 * {"$t": "integer"|"float"|"text"|"bytes", "v": <that type's encoding>}. SQL NULL is null.
 */
export const NORMALIZED_TYPES = ["integer", "decimal", "float", "boolean", "text", "bytes", "timestamptz", "timestamp", "date", "time", "uuid", "json", "numeric", "any", "other"] as const;
export type NormalizedType = (typeof NORMALIZED_TYPES)[number];

export const columnSchema = z.strictObject({
  name: z.string(),
  /** The type as the source declared it ("character varying(40)", "DATETIME", ""). */
  declaredType: z.string(),
  type: z.enum(NORMALIZED_TYPES),
  nullable: z.boolean(),
  /** Computed by the database (generated columns): exported, never written back. */
  generated: z.boolean().optional(),
  /** Values are sealed (sensitive.ts): each is a base64 string, whatever `type` says. */
  sensitive: z.boolean().optional(),
});

export const foreignKeySchema = z.strictObject({
  name: z.string().optional(),
  columns: z.array(z.string()).min(1),
  references: z.strictObject({ table: z.string(), columns: z.array(z.string()) }),
  onDelete: z.string().optional(),
  onUpdate: z.string().optional(),
  deferrable: z.boolean().optional(),
});

/** A sequence or identity feeding a column, with the value it had inside the export's snapshot. */
export const sequenceSchema = z.strictObject({
  column: z.string(),
  /** serial (owned sequence), identity (GENERATED … AS IDENTITY), autoincrement / rowid (SQLite). */
  kind: z.enum(["serial", "identity", "autoincrement", "rowid"]),
  /** PostgreSQL: the sequence's qualified name. */
  name: z.string().optional(),
  /** The last value handed out (null: none yet). Strings when beyond 2^53−1. */
  current: z.union([z.number(), z.string()]).nullable(),
});

export const tableSchema = z.strictObject({
  /** "schema.table", or just "table" for PostgreSQL's public schema and SQLite. */
  name: z.string(),
  columns: z.array(columnSchema).min(1),
  primaryKey: z.array(z.string()).optional(),
  uniqueKeys: z.array(z.strictObject({ name: z.string().optional(), columns: z.array(z.string()).min(1) })),
  foreignKeys: z.array(foreignKeySchema),
  sequences: z.array(sequenceSchema),
});

export const exportSchemaSchema = z.strictObject({
  formatVersion: z.literal(EXPORT_FORMAT_VERSION),
  engine: z.enum(["sqlite", "postgres"]),
  tables: z.array(tableSchema),
});

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const exportTableSchema = z.strictObject({
  name: z.string(),
  /** The stream's name (tableStreamName). */
  stream: z.string(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256,
  /** The --where condition this table was read with. */
  where: z.string().optional(),
});

export const exportManifestSchema = z.strictObject({
  formatVersion: z.literal(EXPORT_FORMAT_VERSION),
  createdAt: z.iso.datetime(),
  source: z.strictObject({ engine: z.enum(["sqlite", "postgres"]), uri: z.string(), version: z.string() }),
  /** The newest applied migration of the Holdfast history table, when the source has one. */
  migrationVersion: z.number().int().optional(),
  filter: z.strictObject({
    tables: z.array(z.string()),
    excludeTables: z.array(z.string()),
    where: z.record(z.string(), z.string()),
  }),
  schema: z.strictObject({ bytes: z.number().int().nonnegative(), sha256 }),
  /** Tables in dependency order when the foreign keys allow it (referenced tables first). */
  tables: z.array(exportTableSchema),
  /** Present when columns are sealed: the data key, as an age file (base64) to the repository's recipients. */
  sensitive: z
    .strictObject({
      columns: z.array(z.string()),
      keyAge: z.string(),
      /** keyIdOf(recipients) (pipeline/key-id.ts): which repository key opens it. */
      keyId: z.string(),
    })
    .optional(),
});

export type ExportColumn = z.infer<typeof columnSchema>;
export type ExportTable = z.infer<typeof tableSchema>;
export type ExportSchema = z.infer<typeof exportSchemaSchema>;
export type ExportManifest = z.infer<typeof exportManifestSchema>;
export type ExportTableEntry = z.infer<typeof exportTableSchema>;
export type SequenceFacts = z.infer<typeof sequenceSchema>;
