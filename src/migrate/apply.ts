import { setTimeout as sleep } from "node:timers/promises";
import { HoldfastError } from "../errors.js";
import { CHECKSUM_ALGORITHM } from "./checksum.js";
import type { Migration } from "./files.js";
import { appliedBy, ensureHistory, insertHistory, readHistory, recordFinished, recordProgress } from "./history.js";
import { concurrentIndexName, needsNoTransaction } from "./no-transaction.js";
import { splitStatements, type SqlStatement } from "./split.js";
import type { MigrationTarget, SqlSession, TimeoutOptions } from "./target.js";

export interface ApplyOptions {
  timeouts: TimeoutOptions;
  /** Attempts after the first when a statement gives up on lock_timeout (default 3). */
  lockRetries: number;
  /** First back-off between attempts, doubled each time (default 1 s). */
  retryBackoffMs: number;
  backupId?: string;
  signal?: AbortSignal;
}

export interface Applied {
  version: number;
  name: string;
  executionMs: number;
  noTransaction: boolean;
  /** No-transaction migrations resumed after an interruption: the statement they resumed at (1-based). */
  resumedAt?: number;
  lockRetries: number;
}

/** Why a migration must run statement by statement, or undefined for one transaction. */
export function noTransactionReason(m: Migration, target: MigrationTarget): string | undefined {
  if (m.noTransaction) return "marked -- holdfast:no-transaction";
  for (const stmt of splitStatements(m.up)) {
    const why = needsNoTransaction(stmt, target.engine, target.versionNum);
    if (why) return `${why} cannot run in a transaction`;
  }
  return undefined;
}

/** Apply one migration unless another migrator did meanwhile (then undefined). */
export async function applyMigration(target: MigrationTarget, m: Migration, o: ApplyOptions): Promise<Applied | undefined> {
  return noTransactionReason(m, target) ? applyStatementByStatement(target, m, o) : applyInTransaction(target, m, o);
}

async function applyInTransaction(target: MigrationTarget, m: Migration, o: ApplyOptions): Promise<Applied | undefined> {
  let retries = 0;
  const started = new Date();
  const result = await withLockRetries(target, m, o, () => retries++, () =>
    target.transaction(async (s) => {
      await ensureHistory(s, target);
      if ((await readHistory(s, target)).some((r) => r.version === m.version)) return false;
      await run(target, m, () => s.exec(m.up));
      const finished = new Date();
      await insertHistory(s, target, row(target, m, o, started, finished, false, 1, 1));
      return true;
    }, o.timeouts),
  );
  return result ? { version: m.version, name: m.name, executionMs: Date.now() - started.getTime(), noTransaction: false, lockRetries: retries } : undefined;
}

/**
 * Statements one by one, each committing on its own, with a ledger in the history row: after a
 * crash the next run resumes at the first statement not recorded. A CREATE INDEX CONCURRENTLY
 * interrupted or failed leaves an INVALID index: it is dropped and built again.
 */
async function applyStatementByStatement(target: MigrationTarget, m: Migration, o: ApplyOptions): Promise<Applied | undefined> {
  const statements = splitStatements(m.up);
  let retries = 0;
  return target.autocommit(async (s) => {
    await ensureHistory(s, target);
    const existing = (await readHistory(s, target)).find((r) => r.version === m.version);
    if (existing?.finishedAt) return undefined;
    const started = existing ? new Date(existing.startedAt) : new Date();
    if (!existing) await insertHistory(s, target, row(target, m, o, started, undefined, true, 0, statements.length));
    const from = existing?.statementsDone ?? 0;
    if (existing && target.engine === "postgres") await settleOrphans(s, o.timeouts.waitMs);
    for (let i = from; i < statements.length; i++) {
      o.signal?.throwIfAborted();
      const stmt = statements[i]!;
      const skip = existing && i === from ? await leftoverIndex(s, target, stmt) : false;
      let attempt = 0;
      if (!skip) {
        await withLockRetries(target, m, o, () => retries++, async () => {
          // A CREATE INDEX CONCURRENTLY that gave up on lock_timeout (waiting for older transactions) left an INVALID index.
          if (attempt++ > 0 && (await leftoverIndex(s, target, stmt))) return;
          await run(target, m, () => s.exec(stmt.text), i + 1);
        });
      }
      await recordProgress(s, target, m.version, i + 1);
    }
    await recordFinished(s, target, m.version, new Date().toISOString(), Date.now() - started.getTime());
    return { version: m.version, name: m.name, executionMs: Date.now() - started.getTime(), noTransaction: true, ...(existing ? { resumedAt: from + 1 } : {}), lockRetries: retries };
  }, o.timeouts);
}

function row(target: MigrationTarget, m: Migration, o: ApplyOptions, started: Date, finished: Date | undefined, noTransaction: boolean, done: number, total: number) {
  return {
    version: m.version,
    name: m.name,
    checksum: m.checksum,
    checksumAlgorithm: CHECKSUM_ALGORITHM,
    upSql: m.up,
    startedAt: started.toISOString(),
    finishedAt: finished?.toISOString(),
    appliedBy: appliedBy(target),
    executionMs: finished ? finished.getTime() - started.getTime() : undefined,
    noTransaction,
    statementsDone: done,
    statementsTotal: total,
    backupId: o.backupId,
  };
}

/** PostgreSQL: a statement of a killed migrator may still run on the server; let it end first. */
async function settleOrphans(s: SqlSession, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const busy = await s.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'holdfast migrate' AND state = 'active' AND coalesce(wait_event, '') <> 'advisory'");
    if (busy.length === 0) return;
    await sleep(250);
  }
}

/** At the resume point: an index the interrupted statement left. INVALID → dropped (true: skip nothing); valid → skip the statement. */
async function leftoverIndex(s: SqlSession, target: MigrationTarget, stmt: SqlStatement): Promise<boolean> {
  const name = target.engine === "postgres" ? concurrentIndexName(stmt) : undefined;
  if (!name) return false;
  const found = await s.query<{ valid: boolean }>("SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass(?)", [name]);
  if (found.length === 0) return false;
  if (found[0]!.valid) return true;
  await s.exec(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  return false;
}

/** Run SQL of migration m; a database error becomes MIGRATION_FAILED naming the migration (and statement). */
async function run(target: MigrationTarget, m: Migration, fn: () => Promise<void>, statement?: number): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof HoldfastError || target.isLockTimeout(err)) throw err;
    const e = err as { message?: string; code?: string };
    const where = `migration ${m.version}_${m.name}${statement ? ` (statement ${statement})` : ""}`;
    const timeout = e.code === "57014" ? " (statement_timeout)" : "";
    throw new HoldfastError("MIGRATION_FAILED", `${where} failed${timeout}: ${(e.message ?? String(err)).split("\n")[0]}`, {
      hint: statement ? "fix the cause and run migrate up again: it resumes at this statement" : "nothing of this migration was applied; fix it and run migrate up again",
      cause: err,
    });
  }
}

/** Bounded retries with doubling back-off when a statement gave up on lock_timeout. */
async function withLockRetries<T>(target: MigrationTarget, m: Migration, o: ApplyOptions, count: () => void, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!target.isLockTimeout(err)) throw err;
      if (attempt >= o.lockRetries) {
        throw new HoldfastError("LOCKED", `migration ${m.version}_${m.name} gave up: a lock it needs stayed held by another session for longer than lock_timeout ${o.timeouts.lockTimeoutMs} ms, ${attempt + 1} attempts`, {
          hint: "find the blocking session (pg_stat_activity, pg_locks) or retry at a quieter time; --lock-timeout and --lock-retries change the limits",
          cause: err,
        });
      }
      count();
      await sleep(o.retryBackoffMs * 2 ** attempt, undefined, { signal: o.signal });
    }
  }
}
