/**
 * Runs in a worker thread so SQLite's synchronous work (page copy, integrity_check, row counts)
 * never stalls the main thread's compression/encryption/upload streams.
 * Messages out: { type: "copied", … }, { type: "facts", … }, { type: "released" } or { type: "error" }.
 * Message in: { type: "release" } once the backup's files are stored (or the backup gave up).
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { integrityCheck, sqliteDetails, sqliteVersion, tableFacts } from "./inspect.js";
import { prepareFileCopy } from "./file-copier.js";
import { flushWal } from "./wal-flush.js";

const { source, target } = workerData as { source: string; target: string };

const releaseAsked = new Promise<void>((res) => parentPort!.once("message", () => res()));

interface Held {
  journalMode: string;
  /** How long the copy itself took, inside the read transaction. */
  copyMs: number;
  /** Ends the read transaction (flushing the -wal file first in WAL mode) and closes the source. */
  release(): Promise<number>;
}

/**
 * Copy the source inside one read transaction this connection opens itself: the backup API then
 * never restarts (it restarts only when *another* connection writes between steps), and the copy
 * is the state at BEGIN.
 *  - WAL mode: writers go on appending to the -wal file, never blocked. The read transaction is kept
 *    until the backup's files are stored: meanwhile the application's automatic checkpoints have
 *    nothing they may copy, so they do no fsync while the backup loads the disk (measured on a 2-core
 *    VM: those fsyncs were the application's longest stalls, 150–230 ms, see docs/sqlite.md). At
 *    release the -wal file is flushed here first, so the application's next checkpoint has no dirty
 *    backlog to sync. The cost: the -wal file grows for the backup's duration.
 *  - Rollback-journal mode: the read transaction is a SHARED lock, and no writer can commit until it
 *    ends. While it is held the file cannot change, so a kernel byte copy (file-copier.ts) replaces
 *    the backup API (whose copy ends with an fsync of the whole snapshot, inside the lock); the lock
 *    is released as soon as the copy is complete, and its length reported as writersBlockedMs.
 */
async function copy(): Promise<Held> {
  const db = new Database(source, { readonly: true, fileMustExist: true });
  let open = true;
  const end = () => {
    if (!open) return;
    open = false;
    try {
      if (db.inTransaction) db.exec("COMMIT");
    } finally {
      db.close();
    }
  };
  try {
    db.pragma("busy_timeout = 10000");
    db.pragma("cache_size = -4000"); // 4 MB: memory stays flat whatever the database size
    const journalMode = String(db.pragma("journal_mode", { simple: true })).toLowerCase();
    if (journalMode !== "wal") {
      const copier = prepareFileCopy(source, target);
      try {
        await copier.ready;
        db.exec("BEGIN");
        db.prepare("SELECT count(*) FROM sqlite_schema").pluck().get(); // SHARED lock from here
        const started = performance.now(); // (waiting for the lock above blocks no writer)
        await copier.copy();
        end();
        const copyMs = Math.round(performance.now() - started);
        return { journalMode, copyMs, release: async () => copyMs };
      } finally {
        copier.kill();
      }
    }
    db.exec("BEGIN");
    db.prepare("SELECT count(*) FROM sqlite_schema").pluck().get(); // the read transaction starts here
    const started = performance.now();
    // One step: consistent because it runs inside our own read transaction.
    await db.backup(target, { progress: () => 1 << 30 });
    const copyMs = Math.round(performance.now() - started);
    return {
      journalMode,
      copyMs,
      release: async () => {
        try {
          await flushWal(source);
        } finally {
          end();
        }
        return Math.round(performance.now() - started);
      },
    };
  } catch (err) {
    end();
    throw err;
  }
}

/** Said at warn level by the backup command (SourceFacts.warnings); the figures are this backup's. */
function rollbackWarning(journalMode: string, blockedMs: number, sizeBytes: number): string {
  const mb = (sizeBytes / 1048576).toFixed(0);
  return (
    `${source} is in rollback-journal mode (journal_mode=${journalMode}): no writer could commit for ${blockedMs} ms ` +
    `while the snapshot copied ${mb} MB under a shared lock, and that time grows with the database; ` +
    `WAL mode is recommended (PRAGMA journal_mode=WAL: writers are never blocked by a backup), see docs/sqlite.md`
  );
}

async function run(): Promise<void> {
  const held = await copy();
  try {
    const snap = new Database(target, { readonly: true, fileMustExist: true });
    snap.pragma("cache_size = -4000");
    try {
      const details: Record<string, unknown> = { ...sqliteDetails(snap), journalMode: held.journalMode, snapshotCopyMs: held.copyMs };
      // In rollback-journal mode the copy held a SHARED lock: no writer could commit meanwhile.
      if (held.journalMode !== "wal") details.writersBlockedMs = held.copyMs;
      const version = sqliteVersion(snap);
      const sizeBytes = Number(details.pageSize) * Number(details.pageCount);
      parentPort!.postMessage({ type: "copied", version, sizeBytes, journalMode: held.journalMode, copyMs: held.copyMs });
      const tables = tableFacts(snap);
      details.integrityCheck = integrityCheck(snap);
      const warnings = held.journalMode === "wal" ? [] : [rollbackWarning(held.journalMode, held.copyMs, sizeBytes)];
      parentPort!.postMessage({ type: "facts", facts: { version, sizeBytes, tables, details, warnings } });
    } finally {
      snap.close();
    }
  } finally {
    await releaseAsked;
    const heldMs = await held.release();
    parentPort!.postMessage({ type: "released", heldMs });
  }
}

run().catch((err: unknown) => {
  const e = err as { message?: string; code?: string };
  parentPort!.postMessage({ type: "error", message: e?.message ?? String(err), code: e?.code });
});
