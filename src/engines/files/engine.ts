import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { finished } from "node:stream/promises";
import { join } from "node:path";
import { pack as tarPack } from "tar-stream";
import { HoldfastError } from "../../errors.js";
import type { Manifest } from "../../repository/manifest.js";
import type { CheckReport, Engine, OperationContext, Snapshot, SnapshotFile, SourceFacts } from "../engine.js";
import { sweepAbandoned } from "../abandoned.js";
import { filesTraits, type FilesRef } from "./kind.js";
import { packTree, type PackOutcome } from "./pack.js";
import { restoreFiles } from "./restore.js";
import { measureTree } from "./measure.js";
import { compareSummaries, recordedSummary, unreadable } from "./tree.js";

export { FILES_ENGINE, type FilesRef } from "./kind.js";
const FORMAT = "tar (POSIX pax)";
const SNAPSHOT_PREFIX = "holdfast-files-";
/** Warnings said one by one before they are summed up (a busy log folder changes thousands of files). */
const MAX_WARNINGS = 20;
const MAX_SKIPPED_RECORDED = 100;

/**
 * A folder (configuration, a container's bind-mounted volume) as a tar stream: `files:/etc/myapp`.
 * The backup stores two files: `files.tar` (what `tar -x` reads) and `index.ndjson` (one record
 * per entry: path, type, size, SHA-256, mode, owner, mtime, link target, in tar order). The
 * manifest holds the counts and a digest of the whole tree, so it stays small for any tree size.
 */
export const filesEngine: Engine<FilesRef> = {
  ...filesTraits,

  async probe(ref: FilesRef): Promise<SourceFacts> {
    await assertFolder(ref.path);
    const m = await measureTree(ref.path, { hash: false });
    return { version: FORMAT, sizeBytes: m.summary.totalBytes, tables: [], details: { format: FORMAT, ...m.summary, skippedCount: m.skipped } };
  },

  async snapshot(ref: FilesRef, ctx: OperationContext): Promise<Snapshot> {
    const root = await assertFolder(ref.path);
    await sweepAbandoned(ctx.tempDir, SNAPSHOT_PREFIX);
    const dir = await mkdtemp(join(ctx.tempDir, `${SNAPSHOT_PREFIX}${process.pid}-`));
    const indexPath = join(dir, "index.ndjson");
    const stop = new AbortController();
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal;
    let settle!: { resolve(f: SourceFacts): void; reject(e: unknown): void };
    const facts = new Promise<SourceFacts>((res, rej) => (settle = { resolve: res, reject: rej }));
    facts.catch(() => undefined); // observed by the caller
    async function* files(): AsyncGenerator<SnapshotFile> {
      const pack = tarPack();
      const index = createWriteStream(indexPath, { mode: 0o600, flags: "wx" });
      // A write of the index can still complete after a failed backup destroyed the stream; its
      // errors reach the backup through packTree (drain) and finished(), never as an uncaught event.
      index.on("error", () => undefined);
      const packing = packTree(ref.path, pack, index, signal).then(async (outcome) => {
        index.end();
        await finished(index);
        return outcome;
      });
      packing.catch((err: unknown) => {
        index.destroy();
        pack.destroy(err as Error);
        settle.reject(err);
      });
      yield { name: "files", extension: ".tar", stream: pack };
      const outcome = await packing;
      settle.resolve(factsOf(outcome, root));
      yield { name: "index", extension: ".ndjson", stream: createReadStream(indexPath), size: (await stat(indexPath)).size };
    }
    return {
      files: files(),
      facts,
      dispose: async () => {
        stop.abort();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },

  restore(open, manifest, target, options) {
    return restoreFiles(open, manifest, target.path, options);
  },

  /** The folder as it is now against the backup: file list, sizes, contents and modes (tree digest). */
  async check(target: FilesRef, manifest: Manifest): Promise<CheckReport> {
    await assertFolder(target.path);
    const { summary } = await measureTree(target.path, { hash: true });
    const problems = compareSummaries(recordedSummary(manifest.details), summary);
    return { ok: problems.length === 0, problems, tables: [], details: { ...summary } };
  },

  async scratch(_manifest: Manifest, dir: string) {
    const path = join(dir, "files");
    return { ref: { path }, dispose: () => rm(path, { recursive: true, force: true }) };
  },
};

type RootStat = Awaited<ReturnType<typeof stat>>;

async function assertFolder(path: string): Promise<RootStat> {
  let st: RootStat;
  try {
    st = await stat(path);
  } catch (err) {
    throw unreadable(err, path);
  }
  if (!st.isDirectory()) throw new HoldfastError("SOURCE_INVALID", `${path} is not a folder`, { hint: "a files: source is a folder (files:/etc/myapp); back up a single database file with sqlite:" });
  return st;
}

function factsOf(outcome: PackOutcome, root: RootStat): SourceFacts {
  const { warnings } = outcome;
  const said = warnings.length > MAX_WARNINGS ? [...warnings.slice(0, MAX_WARNINGS), `… and ${warnings.length - MAX_WARNINGS} more entries changed, vanished or were skipped (see the manifest)`] : warnings;
  return {
    version: FORMAT,
    sizeBytes: outcome.summary.totalBytes,
    tables: [],
    details: {
      format: FORMAT,
      ...outcome.summary,
      rootMode: Number(root.mode) & 0o7777,
      rootUid: Number(root.uid),
      rootGid: Number(root.gid),
      rootMtimeMs: Math.trunc(Number(root.mtimeMs)),
      skipped: outcome.skipped.slice(0, MAX_SKIPPED_RECORDED),
      skippedCount: outcome.skipped.length,
      warningCount: warnings.length,
    },
    warnings: said,
  };
}
