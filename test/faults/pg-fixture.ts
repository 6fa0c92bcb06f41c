import { readdir, rm } from "node:fs/promises";
import pg from "pg";
import { join } from "node:path";
import { runCli } from "../support/cli.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { startRestored } from "../support/pitr.js";
import { failureText } from "./cli-run.js";
import type { Prover } from "./repo-check.js";

export const TABLES = ["customers", "orders", "billing.invoices"] as const;

type Query = (sql: string) => Promise<Record<string, unknown>[]>;

/** Row count and ordered md5 of every row, per table: an independent content fingerprint. */
export async function checksums(query: Query): Promise<string> {
  const parts: string[] = [];
  for (const table of TABLES) {
    const [row] = await query(
      `SELECT count(*)::text AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS f FROM ${table} t`,
    );
    parts.push(`${table}=${String(row!.n)}:${String(row!.f)}`);
  }
  return parts.join(" ");
}

export function clusterQuery(cluster: PgCluster, db: string): Query {
  return (sql) => cluster.query(`SET TimeZone = 'UTC'; ${sql}`, db);
}

let proofs = 0;

/** Logical: restore into a new database on the same server and compare with the source's checksums. */
export function proveLogical(cluster: PgCluster, expected: () => string): Prover {
  return async (m, _scratch, env) => {
    const db = `proof_${process.pid}_${++proofs}`;
    try {
      const r = await runCli(["restore", m.id, "--to", cluster.url(db)], { env });
      if (r.code !== 0) return [`restore ${m.id} failed (${r.code}): ${failureText(r)}`];
      const got = await checksums(clusterQuery(cluster, db));
      return got === expected() ? [] : [`restore of ${m.id} differs from its source: ${got} vs ${expected()}`];
    } finally {
      await cluster.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
    }
  };
}

/** Physical: restore to a new data directory, start it, compare the database's checksums. */
export function provePhysical(db: string, expected: () => string): Prover {
  return async (m, scratch, env) => {
    const dir = join(scratch, `proof-${m.id}`);
    try {
      const r = await runCli(["restore", "--type", "physical", "--to", dir, m.id], { env });
      if (r.code !== 0) return [`physical restore ${m.id} failed (${r.code}): ${failureText(r)}`];
      const server = await startRestored(dir);
      try {
        const got = await checksums((sql) => queryDb(dir, db, sql));
        return got === expected() ? [] : [`physical restore of ${m.id} differs from its source: ${got} vs ${expected()}`];
      } finally {
        await server.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

/** startRestored's own query only reaches `postgres`; the app database is reached through the same socket. */
async function queryDb(dir: string, db: string, sql: string): Promise<Record<string, unknown>[]> {
  const port = await socketPort(dir);
  const client = new pg.Client({ host: dir, port, user: "postgres", database: db });
  await client.connect();
  try {
    const result = await client.query(`SET TimeZone = 'UTC'; ${sql}`);
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    return (last?.rows ?? []) as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

async function socketPort(dir: string): Promise<number> {
  const sock = (await readdir(dir)).find((f) => /^\.s\.PGSQL\.\d+$/.test(f));
  if (!sock) throw new Error(`no server socket in ${dir}`);
  return Number(sock.split(".").pop());
}
