import type { ExportColumn, ExportTable, NormalizedType } from "./format.js";
import { q, sqliteType } from "./sqlite-source.js";

/**
 * --create-schema for SQLite: the declared type of each column (docs/export-import.md, "Type
 * mapping"). A declared type SQLite reads with the same affinity as the column's normalized type
 * is kept ("VARCHAR(40)", "bigint", "DATETIME" from a SQLite export); otherwise the type maps to:
 */
const DECLARED: Record<NormalizedType, string> = {
  integer: "INTEGER",
  float: "REAL",
  bytes: "BLOB",
  boolean: "BOOLEAN", // stored 0/1
  text: "TEXT",
  decimal: "TEXT", // exact digits, never rounded through a double
  timestamptz: "TEXT", // ISO 8601 in UTC
  timestamp: "TEXT",
  date: "TEXT",
  time: "TEXT",
  uuid: "TEXT",
  json: "TEXT",
  other: "TEXT",
  numeric: "NUMERIC",
  any: "",
};

export function sqliteDeclaredType(c: ExportColumn): string {
  if (c.type === "numeric" || c.type === "any") return c.declaredType;
  return sqliteType(c.declaredType) === c.type ? c.declaredType : DECLARED[c.type];
}

function columnDefinition(t: ExportTable, c: ExportColumn, rowidKey: boolean): string {
  const autoincrement = t.sequences.some((s) => s.column === c.name && s.kind === "autoincrement");
  if (rowidKey) return `${q(c.name)} INTEGER PRIMARY KEY${autoincrement ? " AUTOINCREMENT" : ""}`;
  const type = sqliteDeclaredType(c);
  return `${q(c.name)}${type ? ` ${type}` : ""}${c.nullable ? "" : " NOT NULL"}`;
}

/** CREATE TABLE for one exported table: columns, primary key, unique keys, foreign keys (checked at commit). */
export function createTableSql(t: ExportTable): string {
  const pk = t.primaryKey ?? [];
  const only = pk.length === 1 ? t.columns.find((c) => c.name === pk[0]) : undefined;
  const rowidKey = only !== undefined && (only.type === "integer" || t.sequences.some((s) => s.column === only.name));
  // Generated columns carry no expression in the export: they are left out (and never written).
  const parts = t.columns.filter((c) => !c.generated).map((c) => columnDefinition(t, c, rowidKey && c === only));
  if (pk.length && !rowidKey) parts.push(`PRIMARY KEY (${pk.map(q).join(", ")})`);
  for (const u of t.uniqueKeys) parts.push(`UNIQUE (${u.columns.map(q).join(", ")})`);
  for (const fk of t.foreignKeys) {
    parts.push(`FOREIGN KEY (${fk.columns.map(q).join(", ")}) REFERENCES ${q(fk.references.table)} (${fk.references.columns.map(q).join(", ")}) DEFERRABLE INITIALLY DEFERRED`);
  }
  return `CREATE TABLE ${q(t.name)} (${parts.join(", ")})`;
}
