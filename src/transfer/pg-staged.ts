import type pg from "pg";
import { ident } from "../engines/postgres/connection.js";

/** A target column as apply needs it. */
export interface ColumnFacts {
  name: string;
  /** The base type's name (a domain's base), e.g. "int8", "jsonb". */
  base: string;
  generated: boolean;
  /** "a": GENERATED ALWAYS AS IDENTITY, "d": BY DEFAULT, "": none. */
  identity: "" | "a" | "d";
}

/** One table of the import as the PostgreSQL target tracks it. */
export interface StagedTable {
  name: string;
  /** The target table, quoted: "public"."users". */
  relation: string;
  /** The session-local staging table, quoted. */
  stage: string;
  /** The staged columns (the export's, as the target names them). */
  columns: readonly string[];
  /** The key compare was asked to use (primary key or a unique key). */
  key?: readonly string[];
  facts: Map<string, ColumnFacts>;
  applied: boolean;
}

export async function columnFacts(client: pg.Client, relation: string): Promise<Map<string, ColumnFacts>> {
  const { rows } = await client.query<{ name: string; base: string; generated: string; identity: string }>(
    `SELECT a.attname AS name, coalesce(bt.typname, t.typname) AS base, a.attgenerated AS generated, a.attidentity AS identity
     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
     WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [relation],
  );
  return new Map(rows.map((r) => [r.name, { name: r.name, base: r.base, generated: r.generated !== "", identity: (r.identity || "") as ColumnFacts["identity"] }]));
}

/** Types without an equality operator are compared by their text form; json by its jsonb value. */
const BY_TEXT = new Set(["xml", "point", "line", "lseg", "path", "polygon", "circle"]);

/** `alias.column` in a form that `=` and IS DISTINCT FROM accept. */
export function comparable(t: StagedTable, alias: string, column: string): string {
  const base = t.facts.get(column)?.base ?? "";
  const ref = `${alias}.${ident(column)}`;
  if (base === "json") return `${ref}::jsonb`;
  if (BY_TEXT.has(base)) return `${ref}::text`;
  return ref;
}

/** "a.k1 = b.k1 AND …" over `columns`. */
export function joinOn(columns: readonly string[], a: string, b: string): string {
  return columns.map((c) => `${a}.${ident(c)} = ${b}.${ident(c)}`).join(" AND ");
}

/** TRUE when the rows `a` and `b` hold the same values in `columns` (NULLs equal). */
export function sameValues(t: StagedTable, columns: readonly string[], a: string, b: string): string {
  if (columns.length === 0) return "TRUE";
  return columns.map((c) => `${comparable(t, a, c)} IS NOT DISTINCT FROM ${comparable(t, b, c)}`).join(" AND ");
}

/** "(id, email)=(3, a@b)": a key as PostgreSQL prints it in its own messages. */
export function keyText(key: readonly string[], values: readonly (string | null)[]): string {
  return `(${key.join(", ")})=(${values.map((v) => v ?? "NULL").join(", ")})`;
}
