import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
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
 * PostgreSQL. The migrator lock is a transaction-scoped advisory lock keyed by the history table's
 * name, so it ends with the transaction (and with a crashed client's connection) and works through
 * a transaction-mode pooler. No-transaction migrations hold the same key as a session lock on a
 * direct connection (refused behind a pooler), released when they end or when the connection dies.
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
  /**
   * Poll pg_try_advisory_(xact_)lock rather than wait in pg_advisory_lock: a waiter blocked inside a
   * statement holds a snapshot, and CREATE INDEX CONCURRENTLY run by the holder would wait for it.
   */
  const lock = async (t: TimeoutOptions, scope: "xact" | "session"): Promise<void> => {
    const deadline = Date.now() + t.waitMs;
    for (;;) {
      if (scope === "xact") await client.query("BEGIN");
      const got = (await client.query(`SELECT pg_try_advisory${scope === "xact" ? "_xact" : ""}_lock($1::bigint) AS ok`, [lockKey])).rows[0] as { ok: boolean };
      if (got.ok) return;
      if (scope === "xact") await client.query("ROLLBACK");
      if (Date.now() >= deadline) {
        throw new HoldfastError("LOCKED", `another migrator of ${describePg(ref)} kept the migration lock for longer than ${Math.round(t.waitMs / 1000)} s`, { hint: "wait for it to finish, or raise --wait" });
      }
      await sleep(100 + Math.random() * 200);
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
      await lock(t, "xact");
      try {
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
      // Outside a transaction the lock is the session's (released with it, or when the connection dies).
      await lock(t, "session");
      try {
        await client.query(`SET lock_timeout = ${Math.round(t.lockTimeoutMs)}`);
        await client.query(`SET statement_timeout = ${Math.round(t.statementTimeoutMs)}`);
        return await fn(main);
      } finally {
        await client.query("RESET lock_timeout; RESET statement_timeout").catch(() => undefined);
        await client.query("SELECT pg_advisory_unlock($1::bigint)", [lockKey]).catch(() => undefined);
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
