import { createHash } from "node:crypto";
import type pg from "pg";
import { HoldfastError } from "../errors.js";
import { connect, describePg, ident, type PgRef } from "../engines/postgres/connection.js";
import type { MigrationTarget, Row, SqlSession, TimeoutOptions } from "./target.js";

export interface PgTargetOptions {
  /** schema.table or table (in public); default holdfast_schema_history. */
  historyTable: string;
  /** Declared: a PgBouncer in transaction mode sits in front of the server. */
  pgbouncer?: boolean;
}

/**
 * PostgreSQL. The migrator lock is pg_advisory_xact_lock, keyed by the history table's name, so it
 * ends with the transaction (and with a crashed client's connection) and works through a
 * transaction-mode pooler. No-transaction migrations hold it from a second connection whose
 * transaction stays open (idle, without a snapshot, so CREATE INDEX CONCURRENTLY does not wait on it).
 */
export async function openPgTarget(ref: PgRef, options: PgTargetOptions): Promise<MigrationTarget> {
  const historyTable = qualified(options.historyTable);
  const lockKey = advisoryKey(historyTable);
  const client = await connect(ref, "migrate");
  let info: { user: string; version: number; pid1: number; pid2: number };
  try {
    const a = (await client.query("SELECT current_user AS u, current_setting('server_version_num')::int AS v, pg_backend_pid() AS p")).rows[0] as { u: string; v: number; p: number };
    const b = (await client.query("SELECT pg_backend_pid() AS p")).rows[0] as { p: number };
    info = { user: a.u, version: a.v, pid1: a.p, pid2: b.p };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  // Two transactions on one client served by two server processes: a transaction-mode pooler.
  const pooled = Boolean(options.pgbouncer) || info.pid1 !== info.pid2;
  const session = (c: pg.Client): SqlSession => ({
    async query<T = Row>(sql: string, params: unknown[] = []): Promise<T[]> {
      let n = 0;
      return (await c.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows as T[];
    },
    async exec(sql: string): Promise<void> {
      await c.query(sql);
    },
  });
  const main = session(client);
  const lock = async (c: pg.Client, t: TimeoutOptions): Promise<void> => {
    await c.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(t.waitMs))}`);
    try {
      await c.query("SELECT pg_advisory_xact_lock($1::bigint)", [lockKey]);
    } catch (err) {
      if ((err as { code?: string }).code === "55P03") {
        throw new HoldfastError("LOCKED", `another migrator of ${describePg(ref)} kept the migration lock for longer than ${Math.round(t.waitMs / 1000)} s`, { hint: "wait for it to finish, or raise --wait" });
      }
      throw err;
    }
  };
  return {
    engine: "postgres",
    uri: describePg(ref),
    historyTable,
    dbUser: info.user,
    versionNum: info.version,
    pooled,
    read: (fn) => fn(main),
    async transaction(fn, t) {
      await client.query("BEGIN");
      try {
        await lock(client, t);
        await client.query(`SET LOCAL lock_timeout = ${Math.round(t.lockTimeoutMs)}`);
        await client.query(`SET LOCAL statement_timeout = ${Math.round(t.statementTimeoutMs)}`);
        const result = await fn(main);
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      }
    },
    async autocommit(fn, t) {
      if (pooled) {
        throw new HoldfastError("USAGE", `${describePg(ref)} is reached through a transaction-mode pooler (PgBouncer): statements outside a transaction cannot hold the migration lock or their timeouts there`, {
          hint: "run no-transaction migrations over a direct connection to the server (not through PgBouncer in transaction mode)",
        });
      }
      const holder = await connect(ref, "migrate lock");
      try {
        await holder.query("BEGIN");
        await lock(holder, t);
        await client.query(`SET lock_timeout = ${Math.round(t.lockTimeoutMs)}`);
        await client.query(`SET statement_timeout = ${Math.round(t.statementTimeoutMs)}`);
        try {
          return await fn(main);
        } finally {
          await client.query("RESET lock_timeout; RESET statement_timeout").catch(() => undefined);
        }
      } finally {
        await holder.query("COMMIT").catch(() => undefined);
        await holder.end().catch(() => undefined);
      }
    },
    isLockTimeout: (err) => (err as { code?: string })?.code === "55P03",
    close: () => client.end(),
  };
}

/** schema.table → "schema"."table"; a bare name lives in public. */
function qualified(name: string): string {
  const parts = name.split(".");
  if (parts.length > 2 || parts.some((p) => !/^[A-Za-z_][A-Za-z0-9_$]*$/.test(p))) {
    throw new HoldfastError("USAGE", `history table "${name}" is not schema.table or table`);
  }
  return (parts.length === 1 ? ["public", parts[0]!] : parts).map(ident).join(".");
}

/** A stable 64-bit key from the history table's qualified name (one migrator per table per database). */
function advisoryKey(table: string): string {
  return createHash("sha256").update(`holdfast migrate ${table}`).digest().readBigInt64BE(0).toString();
}
