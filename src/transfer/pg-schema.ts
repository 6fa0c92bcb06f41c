import type pg from "pg";
import type { ExportColumn, ExportTable, NormalizedType, SequenceFacts } from "./format.js";

/** PostgreSQL catalog reads for an export (run inside its snapshot). */

const BY_TYPE: Record<string, NormalizedType> = {
  int2: "integer", int4: "integer", int8: "integer", oid: "integer",
  numeric: "decimal", float4: "float", float8: "float", bool: "boolean",
  text: "text", varchar: "text", bpchar: "text", name: "text", citext: "text",
  bytea: "bytes", timestamptz: "timestamptz", timestamp: "timestamp", date: "date",
  time: "time", timetz: "time", uuid: "uuid", json: "json", jsonb: "json",
};

/** The table's name in exports: "table" in the public schema, "schema.table" elsewhere. */
export function exportName(schema: string, table: string): string {
  return schema === "public" ? table : `${schema}.${table}`;
}

const ACTIONS: Record<string, string> = { a: "NO ACTION", r: "RESTRICT", c: "CASCADE", n: "SET NULL", d: "SET DEFAULT" };

export interface PgTableRef { oid: number; schema: string; table: string }

export async function listTables(client: pg.Client, exclude: string): Promise<PgTableRef[]> {
  const { rows } = await client.query<{ oid: number; schema: string; table: string }>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
     ORDER BY 2, 3`,
  );
  return rows.filter((r) => exportName(r.schema, r.table) !== exclude);
}

export async function describeTable(client: pg.Client, ref: PgTableRef): Promise<ExportTable> {
  const cols = await client.query<{ name: string; declared: string; notnull: boolean; generated: string; base: string; cat: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS declared, a.attnotnull AS notnull, a.attgenerated AS generated,
            coalesce(bt.typname, t.typname) AS base, coalesce(bt.typcategory, t.typcategory) AS cat
     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [ref.oid],
  );
  const columns: ExportColumn[] = cols.rows.map((c) => ({
    name: c.name,
    declaredType: c.declared,
    type: c.cat === "A" ? "other" : BY_TYPE[c.base] ?? "other",
    nullable: !c.notnull,
    ...(c.generated ? { generated: true } : {}),
  }));
  const cons = await client.query<{ name: string; type: string; deferrable: boolean; cols: string[]; refschema: string | null; reftable: string | null; refcols: string[] | null; del: string; upd: string }>(
    `SELECT con.conname AS name, con.contype AS type, con.condeferrable AS deferrable,
            to_json(ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i)) AS cols,
            rn.nspname AS refschema, rc.relname AS reftable,
            to_json(ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i)) AS refcols,
            con.confdeltype AS del, con.confupdtype AS upd
     FROM pg_constraint con LEFT JOIN pg_class rc ON rc.oid = con.confrelid LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
     WHERE con.conrelid = $1 AND con.contype IN ('p', 'f') ORDER BY con.conname`,
    [ref.oid],
  );
  const uniques = await client.query<{ name: string; cols: string[] }>(
    `SELECT ic.relname AS name,
            to_json(ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o)) AS cols
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
     WHERE i.indrelid = $1 AND i.indisunique AND NOT i.indisprimary AND i.indpred IS NULL AND i.indexprs IS NULL ORDER BY 1`,
    [ref.oid],
  );
  const pk = cons.rows.find((c) => c.type === "p");
  return {
    name: exportName(ref.schema, ref.table),
    columns,
    ...(pk ? { primaryKey: pk.cols } : {}),
    uniqueKeys: uniques.rows.map((u) => ({ name: u.name, columns: u.cols })),
    foreignKeys: cons.rows
      .filter((c) => c.type === "f")
      .map((c) => ({
        name: c.name,
        columns: c.cols,
        references: { table: exportName(c.refschema!, c.reftable!), columns: c.refcols ?? [] },
        onDelete: ACTIONS[c.del] ?? c.del,
        onUpdate: ACTIONS[c.upd] ?? c.upd,
        deferrable: c.deferrable,
      })),
    sequences: await sequences(client, ref.oid),
  };
}

async function sequences(client: pg.Client, oid: number): Promise<SequenceFacts[]> {
  const owned = await client.query<{ column: string; deptype: string; seq: string; quoted: string }>(
    `SELECT a.attname AS column, d.deptype, sn.nspname || '.' || sc.relname AS seq, quote_ident(sn.nspname) || '.' || quote_ident(sc.relname) AS quoted
     FROM pg_depend d JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S' JOIN pg_namespace sn ON sn.oid = sc.relnamespace
       JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.deptype IN ('a', 'i') ORDER BY 1`,
    [oid],
  );
  const out: SequenceFacts[] = [];
  for (const s of owned.rows) {
    const { rows } = await client.query<{ last: string; called: boolean }>(`SELECT last_value::text AS last, is_called AS called FROM ${s.quoted}`);
    const last = BigInt(rows[0]!.last);
    const current = rows[0]!.called ? (last <= BigInt(Number.MAX_SAFE_INTEGER) && last >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(last) : last.toString()) : null;
    out.push({ column: s.column, kind: s.deptype === "i" ? "identity" : "serial", name: s.seq, current });
  }
  return out;
}
