import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { HoldfastError } from "../../errors.js";
import type { Manifest } from "../../repository/manifest.js";
import type { CheckReport, Engine, OperationContext, SourceFacts, Snapshot } from "../engine.js";
import { compareTables } from "../engine.js";
import { assertSqliteFile } from "./source-file.js";
import { foreignKeyProblems, integrityCheck, sqliteDetails, sqliteVersion, tableFacts } from "./inspect.js";
import { restoreSqlite } from "./restore.js";
import { sweepAbandoned } from "../abandoned.js";
import { sqliteTraits, type SqliteRef } from "./kind.js";

export type { SqliteRef } from "./kind.js";

const SNAPSHOT_PREFIX = "holdfast-snapshot-";


type WorkerMessage =
  | { type: "copied"; version: string; sizeBytes: number; journalMode: string; copyMs: number }
  | { type: "facts"; facts: SourceFacts }
  | { type: "released"; heldMs: number }
  | { type: "error"; message: string; code?: string };

/** How long dispose waits for the worker to end its read transaction before terminating it. */
const RELEASE_WAIT_MS = 10_000;
/**
 * WAL mode: the longest the snapshot's read transaction defers the application's checkpoints
 * (its -wal file grows meanwhile); a longer upload goes on from the copy alone.
 */
const MAX_HOLD_MS = 30_000;

export const sqliteEngine: Engine<SqliteRef> = {
  ...sqliteTraits,

  async probe(ref: SqliteRef): Promise<SourceFacts> {
    await assertSqliteFile(ref.path);
    const db = new Database(ref.path, { readonly: true, fileMustExist: true });
    try {
      const details = sqliteDetails(db);
      return {
        version: sqliteVersion(db),
        sizeBytes: Number(details.pageSize) * Number(details.pageCount),
        tables: tableFacts(db),
        details,
      };
    } finally {
      db.close();
    }
  },

  async snapshot(ref: SqliteRef, ctx: OperationContext): Promise<Snapshot> {
    await assertSqliteFile(ref.path);
    await sweepAbandoned(ctx.tempDir, SNAPSHOT_PREFIX); // snapshot folders of runs that were killed
    const dir = await mkdtemp(join(ctx.tempDir, `${SNAPSHOT_PREFIX}${process.pid}-`));
    const target = join(dir, "snapshot.sqlite");
    const worker = new Worker(new URL("./snapshot-worker.js", import.meta.url), { workerData: { source: ref.path, target } });
    let resolveCopied!: (v: { version: string; sizeBytes: number }) => void;
    let resolveFacts!: (f: SourceFacts) => void;
    let rejectAll!: (e: Error) => void;
    const copied = new Promise<{ version: string; sizeBytes: number }>((res, rej) => {
      resolveCopied = res;
      rejectAll = rej;
    });
    const facts = new Promise<SourceFacts>((res, rej) => {
      resolveFacts = res;
      const prev = rejectAll;
      rejectAll = (e) => {
        prev(e);
        rej(e);
      };
    });
    facts.catch(() => undefined); // observed by the caller; avoid unhandled rejection noise
    let markReleased!: () => void;
    const released = new Promise<void>((res) => (markReleased = res));
    worker.on("message", (msg: WorkerMessage) => {
      if (msg.type === "copied") resolveCopied(msg);
      else if (msg.type === "facts") resolveFacts(msg.facts);
      else if (msg.type === "released") markReleased();
      else rejectAll(sqliteError(msg, ref.path));
    });
    worker.on("error", (err) => rejectAll(new HoldfastError("INTERNAL", `snapshot of ${ref.path} failed: ${err.message}`)));
    worker.on("exit", (code) => {
      markReleased();
      if (code !== 0) rejectAll(new HoldfastError("INTERNAL", `snapshot worker for ${ref.path} exited with ${code}`));
    });
    // The worker keeps its read transaction on the source (WAL mode) until the files are stored;
    // ending it cleanly matters: a terminated thread's SQLite locks would stay with this process.
    let releasing: Promise<void> | undefined;
    const release = (): Promise<void> =>
      (releasing ??= (async () => {
        worker.postMessage({ type: "release" });
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([released, new Promise((res) => (timer = setTimeout(res, RELEASE_WAIT_MS)))]);
        clearTimeout(timer);
      })());
    const dispose = async (): Promise<void> => {
      await release();
      await worker.terminate().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    };
    const abort = (): void => rejectAll(new HoldfastError("INTERRUPTED", `backup of ${ref.path} interrupted`));
    ctx.signal?.addEventListener("abort", abort, { once: true });
    try {
      await copied;
    } catch (err) {
      await dispose();
      throw err;
    }
    setTimeout(() => void release(), MAX_HOLD_MS).unref();
    const size = (await stat(target)).size;
    async function* files() {
      yield { name: "database", extension: ".sqlite", size, stream: createReadStream(target, { highWaterMark: 1 << 20 }) };
      await release(); // stored: the application's checkpoints may go on
    }
    return { files: files(), facts, dispose };
  },

  restore(open, manifest, target, options) {
    return restoreSqlite(open, manifest, target.path, options, (path) => checkSqlite(path, manifest));
  },

  async check(target: SqliteRef, manifest: Manifest): Promise<CheckReport> {
    return checkSqlite(target.path, manifest);
  },

  async scratch(_manifest: Manifest, dir: string) {
    const path = join(dir, "scratch.sqlite");
    return { ref: { path }, dispose: () => rm(path, { force: true }) };
  },
};

/** Deep check of a restored file: integrity_check, foreign_key_check, per-table row counts. */
export function checkSqlite(path: string, manifest: Manifest): CheckReport {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const integrity = integrityCheck(db);
    const problems: string[] = [];
    if (integrity !== "ok") problems.push(`integrity_check: ${integrity}`);
    problems.push(...foreignKeyProblems(db));
    const compared = compareTables(manifest.tables, tableFacts(db));
    problems.push(...compared.problems);
    return { ok: problems.length === 0, problems, tables: compared.tables, details: { integrityCheck: integrity } };
  } finally {
    db.close();
  }
}

function sqliteError(msg: { message: string; code?: string }, path: string): HoldfastError {
  if (msg.code === "SQLITE_NOTADB") return new HoldfastError("SOURCE_INVALID", `${path} is not a SQLite database`);
  if (msg.code === "SQLITE_BUSY") return new HoldfastError("LOCKED", `${path} stayed locked by another writer for 10 s`);
  if (msg.code === "SQLITE_CANTOPEN") return new HoldfastError("SOURCE_MISSING", `cannot open ${path}`);
  if (msg.code === "SQLITE_FULL" || /disk is full|ENOSPC/.test(msg.message)) {
    return new HoldfastError("NO_SPACE", `no space left for the snapshot of ${path}`, { hint: "set HOLDFAST_TMPDIR to a larger volume" });
  }
  return new HoldfastError("BACKUP_FAILED", `snapshot of ${path} failed: ${msg.message}`);
}
