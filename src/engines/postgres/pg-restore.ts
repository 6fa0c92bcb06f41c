import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { Writable, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HoldfastError } from "../../errors.js";
import type { Manifest } from "../../repository/manifest.js";
import type { OpenBackupFile } from "../engine.js";
import { describePg, toolEnvironment, type PgRef } from "./connection.js";
import type { RestoreFlags } from "./options.js";
import { findTool, majorOf, startTool, toolFailure, toolVersion } from "./tools.js";

/** pg_restore arguments (connection in the environment; only the database name on the command line). */
export function pgRestoreArgs(database: string, flags: RestoreFlags, input?: string): string[] {
  const args = ["--no-password", "--exit-on-error", `--dbname=${database}`];
  if (flags.jobs > 1) args.push(`--jobs=${flags.jobs}`);
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

/**
 * Feed a backup to pg_restore.
 *  - custom, one job: the verified stream goes straight into pg_restore's stdin (no copy on disk);
 *  - custom, --jobs N: pre-data and data stream into one pg_restore while a copy is written to a
 *    private temporary file, then the post-data section (indexes, constraints: the part that gains
 *    from parallelism, and needs no data offsets, which a dump taken to a pipe lacks) runs with N jobs;
 *  - directory: the files are written to a private temporary folder, then pg_restore -j N.
 */
export async function runPgRestore(open: OpenBackupFile, manifest: Manifest, target: PgRef, flags: RestoreFlags, tempDir: string, signal?: AbortSignal): Promise<void> {
  const tool = await checkedPgRestore(manifest);
  const where = describePg(target);
  const { env, cleanup } = await toolEnvironment(target, tempDir);
  const work = await mkdtemp(join(tempDir, "holdfast-pgrestore-"));
  const run = async (args: string[], source?: Readable, copy?: Writable): Promise<void> => {
    const running = startTool(tool, args, { env, signal, stdin: source ? "pipe" : "ignore" });
    running.child.stdout!.resume();
    let streamError: unknown;
    if (source) {
      try {
        await pipeline(source, copy ? tee(running.child.stdin!, copy) : running.child.stdin!, { signal });
      } catch (err) {
        streamError = err;
        running.child.kill("SIGTERM");
      }
    }
    const { code, stderr } = await running.done;
    if (streamError && (streamError as { code?: string }).code !== "EPIPE") throw streamError;
    if (code !== 0) throw toolFailure("pg_restore", code, stderr, where);
  };
  try {
    if (manifest.details.dumpFormat === "directory") {
      const dir = join(work, "dump");
      await mkdir(dir, { mode: 0o700 });
      for (const f of manifest.files) {
        if (!f.name.startsWith("dir-")) continue;
        await pipeline(await open(f.name), createWriteStream(join(dir, f.name.slice(4)), { mode: 0o600 }), { signal });
      }
      await run([...pgRestoreArgs(target.database, flags, dir), "--format=directory"]);
    } else if (flags.jobs === 1) {
      await run(pgRestoreArgs(target.database, flags), await open("dump"));
    } else {
      const file = join(work, "dump.pgdump");
      const serial = { ...flags, jobs: 1 };
      await run([...pgRestoreArgs(target.database, serial), "--section=pre-data", "--section=data"], await open("dump"), createWriteStream(file, { mode: 0o600 }));
      await run([...pgRestoreArgs(target.database, { ...flags, clean: false }, file), "--section=post-data"]);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
    await cleanup();
  }
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
