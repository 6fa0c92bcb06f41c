import type pg from "pg";
import type { TableFacts } from "../../repository/manifest.js";
import { HoldfastError } from "../../errors.js";
import { ident } from "./connection.js";

/**
 * Session settings that make row text (t::text) identical on the source and after a restore,
 * whatever the server or role defaults are: the checksums depend on them.
 */
export const STABLE_TEXT_SETTINGS = `SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';
  SET extra_float_digits = 1; SET bytea_output = 'hex'; SET search_path = pg_catalog;`;

export interface TableRef {
  schema: string;
  name: string;
}

export function qualified(t: TableRef): string {
  return `${t.schema}.${t.name}`;
}

/** Ordinary tables and partitions holding rows, outside system schemas and extension members. */
export async function listTables(client: pg.Client): Promise<TableRef[]> {
  const { rows } = await client.query<{ schema: string; name: string }>(`
    SELECT n.nspname AS schema, c.relname AS name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
      AND n.nspname NOT LIKE 'pg\\_temp%'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY 1, 2`);
  return rows;
}

/**
 * Row count and an order-independent content checksum: the sum of a 64-bit hash of every row. One
 * streaming pass, no sort, no memory growth, and the same value after any restore that reproduces
 * the rows. Two methods, named by the checksum's prefix (a check always uses the one the manifest
 * names):
 *  - "h64sum:": hashtextextended() of the row's text (row::text), on any PostgreSQL ≥ 11.
 *  - "rh64sum:": hash_record_extended() of the row (PostgreSQL ≥ 14): each column hashed by its
 *    type's own hash, without building the row's text; about 3× cheaper on the server. Used only
 *    when every column's type hashes exactly its stored value (EXACT_HASH_TYPES, deterministic
 *    collations), so two rows hash alike only when their text is alike too. Types whose hash treats
 *    different values as equal (numeric 1.0 and 1.00, float -0 and 0, interval '1 day' and
 *    '24 hours', jsonb numbers, case-insensitive collations) keep the text method.
 */
export type ChecksumMethod = "text" | "record";

export const CHECKSUM_PREFIX = "h64sum:";
export const RECORD_CHECKSUM_PREFIX = "rh64sum:";

/** Types whose hash function is injective on stored values (bpchar only with a length: padded). */
const EXACT_HASH_TYPES = ["int2", "int4", "int8", "oid", "bool", "text", "varchar", "bytea", "date", "timestamp", "timestamptz", "uuid"];

/** The method a checksum string was made with; undefined for none or an unknown prefix. */
export function checksumMethodOf(checksum: string | undefined): ChecksumMethod | undefined {
  if (checksum?.startsWith(RECORD_CHECKSUM_PREFIX)) return "record";
  if (checksum?.startsWith(CHECKSUM_PREFIX)) return "text";
  return undefined;
}

/** "record" when the server has hash_record_extended and every column of t hashes exactly. */
export async function cheapestChecksumMethod(client: pg.Client, t: TableRef): Promise<ChecksumMethod> {
  if ((await serverVersionNum(client)) < 140000) return "text";
  const { rows } = await client.query<{ exact: boolean | null }>(
    `SELECT bool_and((a.atttypid = ANY ($2::pg_catalog.regtype[]) OR (a.atttypid = 'pg_catalog.bpchar'::pg_catalog.regtype AND a.atttypmod > 0))
                     AND (a.attcollation = 0 OR co.collisdeterministic)) AS exact
     FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
     WHERE a.attrelid = $1::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped`,
    [`${ident(t.schema)}.${ident(t.name)}`, EXACT_HASH_TYPES.map((n) => `pg_catalog.${n}`)],
  );
  // No columns at all (bool_and of nothing is NULL): the text method, as before.
  return rows[0]?.exact === true ? "record" : "text";
}

const versions = new WeakMap<pg.Client, Promise<number>>();
function serverVersionNum(client: pg.Client): Promise<number> {
  let v = versions.get(client);
  if (!v) {
    v = client.query<{ n: string }>("SELECT current_setting('server_version_num') AS n").then((r) => Number(r.rows[0]!.n));
    versions.set(client, v);
  }
  return v;
}

export async function tableChecksum(client: pg.Client, t: TableRef, method: ChecksumMethod): Promise<TableFacts> {
  if (method === "record" && (await serverVersionNum(client)) < 140000) {
    throw new HoldfastError("TOOL_VERSION", `the checksum of ${qualified(t)} was made with hash_record_extended(), which this server (before PostgreSQL 14) lacks`, {
      hint: "check the restore on PostgreSQL 14 or later (--scratch <server>)",
    });
  }
  const hash = method === "record" ? "pg_catalog.hash_record_extended(r, 0)" : "pg_catalog.hashtextextended(r::text, 0)";
  const sql = `SELECT count(*)::text AS rows, coalesce(sum(${hash}), 0)::text AS h
    FROM ONLY ${ident(t.schema)}.${ident(t.name)} r`;
  const { rows } = await client.query<{ rows: string; h: string }>(sql);
  const row = rows[0]!;
  return { name: qualified(t), rows: Number(row.rows), checksum: `${method === "record" ? RECORD_CHECKSUM_PREFIX : CHECKSUM_PREFIX}${row.h}` };
}

export async function tableCount(client: pg.Client, t: TableRef): Promise<TableFacts> {
  const { rows } = await client.query<{ rows: string }>(`SELECT count(*)::text AS rows FROM ONLY ${ident(t.schema)}.${ident(t.name)}`);
  return { name: qualified(t), rows: Number(rows[0]!.rows) };
}

/** "checksums": counts and content checksums; "counts": row counts only; "none": schema only (0 rows). */
export type FactsLevel = "checksums" | "counts" | "none";

/**
 * methods: the checksum method per table (qualified name) that a check must use, from the manifest
 * it compares with; a table not in it gets the cheapest exact method (cheapestChecksumMethod).
 */
export async function tablesFacts(client: pg.Client, tables: TableRef[], level: FactsLevel, methods?: ReadonlyMap<string, ChecksumMethod>): Promise<TableFacts[]> {
  const out: TableFacts[] = [];
  for (const t of tables) {
    if (level === "checksums") out.push(await tableChecksum(client, t, methods?.get(qualified(t)) ?? (await cheapestChecksumMethod(client, t))));
    else if (level === "counts") out.push(await tableCount(client, t));
    else out.push({ name: qualified(t), rows: 0 });
  }
  return out;
}

export interface ServerFacts {
  serverVersion: string;
  serverVersionNum: number;
  databaseSizeBytes: number;
  extensions: { name: string; version: string }[];
  migrationVersion?: { tool: string; version: string };
}

export async function serverFacts(client: pg.Client): Promise<ServerFacts> {
  const v = await client.query<{ version: string; num: string; size: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num, pg_catalog.pg_database_size(current_database())::text AS size",
  );
  const ext = await client.query<{ name: string; version: string }>("SELECT extname AS name, extversion AS version FROM pg_catalog.pg_extension ORDER BY 1");
  return {
    serverVersion: v.rows[0]!.version.split(" ")[0]!,
    serverVersionNum: Number(v.rows[0]!.num),
    databaseSizeBytes: Number(v.rows[0]!.size),
    extensions: ext.rows,
    migrationVersion: await migrationVersion(client),
  };
}

/** Known migration tools' bookkeeping tables (first one found, in any schema on the search path or public). */
const MIGRATION_TABLES: { tool: string; table: string; sql: (t: string) => string }[] = [
  { tool: "alembic", table: "alembic_version", sql: (t) => `SELECT string_agg(version_num::text, ',' ORDER BY version_num) AS v FROM ${t}` },
  { tool: "rails/dbmate", table: "schema_migrations", sql: (t) => `SELECT max(version::text) AS v FROM ${t}` },
  { tool: "knex", table: "knex_migrations", sql: (t) => `SELECT name::text AS v FROM ${t} ORDER BY id DESC LIMIT 1` },
  { tool: "flyway", table: "flyway_schema_history", sql: (t) => `SELECT version::text AS v FROM ${t} WHERE success ORDER BY installed_rank DESC LIMIT 1` },
  { tool: "prisma", table: "_prisma_migrations", sql: (t) => `SELECT migration_name::text AS v FROM ${t} WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1` },
];

async function migrationVersion(client: pg.Client): Promise<{ tool: string; version: string } | undefined> {
  for (const m of MIGRATION_TABLES) {
    const found = await client.query<{ schema: string }>(
      `SELECT n.nspname AS schema FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relname = $1 AND c.relkind IN ('r', 'p') ORDER BY n.nspname = 'public' DESC LIMIT 1`,
      [m.table],
    );
    const schema = found.rows[0]?.schema;
    if (!schema) continue;
    try {
      await client.query("SAVEPOINT holdfast_migration");
      const { rows } = await client.query<{ v: string | null }>(m.sql(`${ident(schema)}.${ident(m.table)}`));
      await client.query("RELEASE SAVEPOINT holdfast_migration");
      if (rows[0]?.v) return { tool: m.tool, version: rows[0].v };
    } catch {
      // A table with that name but another shape: not the tool we thought.
      await client.query("ROLLBACK TO SAVEPOINT holdfast_migration").catch(() => undefined);
    }
  }
  return undefined;
}
