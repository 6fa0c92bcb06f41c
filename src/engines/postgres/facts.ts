import type pg from "pg";
import type { TableFacts } from "../../repository/manifest.js";
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
 * Row count and an order-independent content checksum: the sum of the 64-bit hashtextextended()
 * of every row's text. One streaming pass (about 4× cheaper than md5), no sort, no memory growth,
 * and the same value after any restore that reproduces the rows (on any PostgreSQL ≥ 11).
 */
export async function tableChecksum(client: pg.Client, t: TableRef): Promise<TableFacts> {
  const sql = `SELECT count(*)::text AS rows, coalesce(sum(pg_catalog.hashtextextended(r::text, 0)), 0)::text AS h
    FROM ONLY ${ident(t.schema)}.${ident(t.name)} r`;
  const { rows } = await client.query<{ rows: string; h: string }>(sql);
  const row = rows[0]!;
  return { name: qualified(t), rows: Number(row.rows), checksum: `${CHECKSUM_PREFIX}${row.h}` };
}

export const CHECKSUM_PREFIX = "h64sum:";

export async function tableCount(client: pg.Client, t: TableRef): Promise<TableFacts> {
  const { rows } = await client.query<{ rows: string }>(`SELECT count(*)::text AS rows FROM ONLY ${ident(t.schema)}.${ident(t.name)}`);
  return { name: qualified(t), rows: Number(rows[0]!.rows) };
}

/** "checksums": counts and content checksums; "counts": row counts only; "none": schema only (0 rows). */
export type FactsLevel = "checksums" | "counts" | "none";

export async function tablesFacts(client: pg.Client, tables: TableRef[], level: FactsLevel): Promise<TableFacts[]> {
  const out: TableFacts[] = [];
  for (const t of tables) {
    if (level === "checksums") out.push(await tableChecksum(client, t));
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
