/**
 * Runs in a worker thread so SQLite's synchronous work (page copy, integrity_check, row counts)
 * never stalls the main thread's compression/encryption/upload streams.
 * Messages: { type: "copied", version, sizeBytes } then { type: "facts", … } or { type: "error" }.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { integrityCheck, sqliteDetails, sqliteVersion, tableFacts } from "./inspect.js";

const { source, target } = workerData as { source: string; target: string };

async function run(): Promise<void> {
  const db = new Database(source, { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 10000");
  db.pragma("cache_size = -4000"); // 4 MB: memory stays flat whatever the database size
  try {
    // Copy in one step: a progress callback returning a huge page count never restarts on writers
    // in WAL mode, and returning 0 would never finish (better-sqlite3 semantics).
    await db.backup(target, { progress: () => 1 << 30 });
  } finally {
    db.close();
  }
  const snap = new Database(target, { readonly: true, fileMustExist: true });
  snap.pragma("cache_size = -4000");
  try {
    const details = sqliteDetails(snap);
    const version = sqliteVersion(snap);
    const sizeBytes = Number(details.pageSize) * Number(details.pageCount);
    parentPort!.postMessage({ type: "copied", version, sizeBytes });
    const tables = tableFacts(snap);
    const integrity = integrityCheck(snap);
    parentPort!.postMessage({ type: "facts", facts: { version, sizeBytes, tables, details: { ...details, integrityCheck: integrity } } });
  } finally {
    snap.close();
  }
}

run().catch((err: unknown) => {
  const e = err as { message?: string; code?: string };
  parentPort!.postMessage({ type: "error", message: e?.message ?? String(err), code: e?.code });
});
