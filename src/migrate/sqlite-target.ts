import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { HoldfastError } from "../errors.js";
import { sqliteVersion } from "../engines/sqlite/inspect.js";
import type { MigrationTarget, Row, SqlSession, TimeoutOptions } from "./target.js";

/**
 * SQLite. A transactional migration runs inside BEGIN IMMEDIATE (the write lock, waited for up to
 * the migrator wait through busy_timeout); a no-transaction one (VACUUM) holds a lock file beside
 * the database, `<file>.holdfast-migrate.lock`, naming its process (taken over when that process is gone).
 */
export function openSqliteTarget(path: string, historyTable: string): MigrationTarget {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(historyTable)) throw new HoldfastError("USAGE", `history table "${historyTable}" is not a plain SQLite table name`);
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (err) {
    throw new HoldfastError("SOURCE_INVALID", `cannot open the SQLite database ${path}: ${(err as Error).message}`, { cause: err });
  }
  const session: SqlSession = {
    async query<T = Row>(sql: string, params: unknown[] = []): Promise<T[]> {
      const stmt = db.prepare(sql);
      const values = params.map((p) => (typeof p === "boolean" ? Number(p) : p));
      if (stmt.reader) return stmt.all(...values) as T[];
      stmt.run(...values);
      return [];
    },
    async exec(sql: string): Promise<void> {
      db.exec(sql);
    },
  };
  const busy = (t: TimeoutOptions): void => {
    db.pragma(`busy_timeout = ${Math.max(1, Math.round(t.waitMs))}`);
  };
  const [maj = 0, min = 0, patch = 0] = sqliteVersion(db).split(".").map(Number);
  return {
    engine: "sqlite",
    uri: `sqlite:${path}`,
    historyTable: `"${historyTable}"`,
    dbUser: "-",
    versionNum: maj * 1_000_000 + min * 1000 + patch,
    pooled: false,
    read: (fn) => fn(session),
    async transaction(fn, t) {
      busy(t);
      try {
        db.exec("BEGIN IMMEDIATE");
      } catch (err) {
        if ((err as { code?: string }).code?.startsWith("SQLITE_BUSY")) {
          throw new HoldfastError("LOCKED", `another writer kept ${path} locked for longer than ${Math.round(t.waitMs / 1000)} s`, { hint: "wait for it to finish, or raise --wait" });
        }
        throw err;
      }
      try {
        const result = await fn(session);
        db.exec("COMMIT");
        return result;
      } catch (err) {
        if (db.inTransaction) db.exec("ROLLBACK");
        throw err;
      }
    },
    async autocommit(fn, t) {
      const release = await lockFile(`${path}.holdfast-migrate.lock`, t.waitMs);
      busy({ ...t, waitMs: t.lockTimeoutMs });
      try {
        return await fn(session);
      } finally {
        release();
      }
    },
    isLockTimeout: (err) => Boolean((err as { code?: string })?.code?.startsWith("SQLITE_BUSY")),
    close: async () => {
      db.close();
    },
  };
}

async function lockFile(file: string, waitMs: number): Promise<() => void> {
  const deadline = Date.now() + waitMs;
  const mine = JSON.stringify({ pid: process.pid, host: hostname() });
  for (;;) {
    try {
      writeFileSync(file, mine, { flag: "wx", mode: 0o600 });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    if (holderGone(file)) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() >= deadline) throw new HoldfastError("LOCKED", `another migrator holds ${file}`, { hint: "wait for it to finish, or raise --wait" });
    await sleep(200);
  }
}

/** The lock file names a process of this host that no longer runs (or cannot be read at all). */
function holderGone(file: string): boolean {
  try {
    const { pid, host } = JSON.parse(readFileSync(file, "utf8")) as { pid: number; host: string };
    if (host !== hostname()) return false;
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH" || err instanceof SyntaxError;
  }
}
