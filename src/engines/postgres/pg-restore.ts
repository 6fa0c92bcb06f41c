import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { Writable, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pLimit from "p-limit";
import { HoldfastError } from "../../errors.js";
import type { Manifest } from "../../repository/manifest.js";
import type { OpenBackupFile } from "../engine.js";
import { finishVerified } from "../../pipeline/verified.js";
import { describePg, toolEnvironment, type PgRef } from "./connection.js";
import type { RestoreFlags } from "./options.js";
import { findTool, majorOf, startTool, toolFailure, toolVersion } from "./tools.js";

/**
 * pg_restore arguments (connection in the environment; only the database name on the command line).
 * `atomic`: one transaction that rolls back entirely on any error (pg_restore cannot combine it
 * with --jobs, so it runs one job).
 */
export function pgRestoreArgs(database: string, flags: RestoreFlags, input?: string, atomic = false): string[] {
  const args = ["--no-password", "--exit-on-error", `--dbname=${database}`];
  if (atomic) args.push("--single-transaction");
  else if (flags.jobs > 1) args.push(`--jobs=${flags.jobs}`);
  if (flags.clean) args.push("--clean", "--if-exists");
  if (flags.noOwner) args.push("--no-owner");
  if (flags.role) args.push(`--role=${flags.role}`);
  if (input) args.push(input);
  return args;
}

/** pg_restore must understand the dump: at least the major version of the pg_dump that wrote it. */
export async function checkedPgRestore(manifest: Manifest): Promise<string> {
  const tool = findTool("pg_restore");
  const version = await toolVersion(tool);
  const dumpVersion = String(manifest.details.pgDumpVersion ?? "0");
  if (version.major < majorOf(dumpVersion)) {
    throw new HoldfastError("TOOL_VERSION", `pg_restore ${version.text} (${tool}) is older than the pg_dump ${dumpVersion} that wrote backup ${manifest.id}`, {
      hint: `install the PostgreSQL ${majorOf(dumpVersion)} client tools (or set HOLDFAST_PG_BIN)`,
    });
  }
  return tool;
}

export interface PgRestoreRun {
  tempDir: string;
  signal?: AbortSignal;
  /**
   * Into an existing database (--clean): nothing reaches pg_restore before every stored byte passed
   * its checks (the backup is spooled to a private file first), and pg_restore runs in one
   * transaction, so a damaged backup or a failing statement leaves the database as it was.
   */
  atomic: boolean;
}

/**
 * Feed a backup to pg_restore. Every stream is checked to its last stored byte (finishVerified)
 * before this returns, even when pg_restore stopped reading early.
 *  - atomic (custom or directory): the files are written to a private temporary place, checked,
 *    then pg_restore --single-transaction runs from there;
 *  - custom, one job: the checked stream goes straight into pg_restore's stdin (no copy on disk);
 *    the caller must treat the target as unproven until this returns (a new database is dropped
 *    on failure, an in-place restore swaps only afterwards);
 *  - custom, --jobs N: pre-data and data stream into one pg_restore while a copy is written to a
 *    private temporary file, then the post-data section (indexes, constraints: the part that gains
 *    from parallelism, and needs no data offsets, which a dump taken to a pipe lacks) runs with N jobs;
 *  - directory: the files are written to a private temporary folder (N at a time), then pg_restore -j N.
 */
export async function runPgRestore(open: OpenBackupFile, manifest: Manifest, target: PgRef, flags: RestoreFlags, run: PgRestoreRun): Promise<void> {
  const { tempDir, signal, atomic } = run;
  const tool = await checkedPgRestore(manifest);
  const where = describePg(target);
  const { env, cleanup } = await toolEnvironment(target, tempDir);
  const work = await mkdtemp(join(tempDir, "holdfast-pgrestore-"));
  const restore = async (args: string[], source?: Readable, copy?: Writable): Promise<void> => {
    const running = startTool(tool, args, { env, signal, stdin: source ? "pipe" : "ignore" });
    running.child.stdout!.resume();
    let streamError: unknown;
    if (source) {
      try {
        await pipeline(source, copy ? tee(running.child.stdin!, copy) : running.child.stdin!, { signal });
      } catch (err) {
        streamError = err;
        if (!stoppedReading(err)) running.child.kill("SIGTERM");
      }
    }
    const { code, stderr } = await running.done;
    // The checks explain a failure better than pg_restore does (it saw a damaged stream), and a
    // pg_restore that stopped reading early must not turn an unchecked stream into a success.
    if (source) await finishVerified(source);
    if (streamError && !stoppedReading(streamError)) throw streamError;
    if (code !== 0) throw toolFailure("pg_restore", code, stderr, where);
  };
  const spool = async (name: string, file: string): Promise<void> => {
    const source = await open(name);
    try {
      await pipeline(source, createWriteStream(file, { mode: 0o600, flags: "wx" }), { signal });
    } finally {
      await finishVerified(source);
    }
  };
  try {
    if (manifest.details.dumpFormat === "directory") {
      const dir = join(work, "dump");
      await mkdir(dir, { mode: 0o700 });
      // Decrypted, decompressed and checked as many at a time as pg_restore will load them.
      const limit = pLimit({ concurrency: Math.max(1, flags.jobs), rejectOnClear: true });
      const spooled = await Promise.allSettled(
        manifest.files
          .filter((f) => f.name.startsWith("dir-"))
          .map((f) =>
            limit(() => spool(f.name, join(dir, f.name.slice(4)))).catch((err: unknown) => {
              limit.clearQueue(); // the restore fails: start no other file
              throw err;
            }),
          ),
      );
      // The first failure explains; the files it cleared from the queue only say they were not started.
      const failures = spooled.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as unknown);
      if (failures.length > 0) throw failures.find((e) => (e as Error)?.name !== "AbortError") ?? failures[0];
      await restore([...pgRestoreArgs(target.database, flags, dir, atomic), "--format=directory"]);
    } else if (atomic) {
      const file = join(work, "dump.pgdump");
      await spool("dump", file);
      await restore(pgRestoreArgs(target.database, flags, file, true));
    } else if (flags.jobs === 1) {
      await restore(pgRestoreArgs(target.database, flags), await open("dump"));
    } else {
      const file = join(work, "dump.pgdump");
      const serial = { ...flags, jobs: 1 };
      await restore([...pgRestoreArgs(target.database, serial), "--section=pre-data", "--section=data"], await open("dump"), createWriteStream(file, { mode: 0o600 }));
      await restore([...pgRestoreArgs(target.database, { ...flags, clean: false }, file), "--section=post-data"]);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
    await cleanup();
  }
}

/** pg_restore closed its stdin (it exits once it has what it needs): not a failure by itself. */
function stoppedReading(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "EPIPE" || code === "ERR_STREAM_PREMATURE_CLOSE";
}

/**
 * Write to both with back-pressure from both. pg_restore may stop reading once it has what it
 * needs: after the tool's stdin fails the copy still receives every byte, so the stream (and its
 * hash check) runs to the end.
 */
function tee(tool: Writable, copy: Writable): Writable {
  let toolOpen = true;
  const out: Writable = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      const targets = toolOpen ? [tool, copy] : [copy];
      let pending = targets.length;
      const done = (): void => {
        if (--pending === 0) callback();
      };
      for (const w of targets) {
        if (w.write(chunk)) done();
        else w.once("drain", done);
      }
    },
    final(callback) {
      if (toolOpen) tool.end();
      copy.end(() => callback());
    },
  });
  tool.on("error", () => {
    toolOpen = false;
    tool.emit("drain"); // release a write waiting on the closed pipe
  });
  copy.on("error", (err) => out.destroy(err));
  return out;
}
