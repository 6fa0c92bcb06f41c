import { createReadStream, createWriteStream } from "node:fs";
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, rename, rm, utimes } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { pipeline } from "node:stream/promises";
import { HoldfastError, fromSystemError } from "../../errors.js";
import { fsyncPath } from "../../storage/local.js";
import type { Manifest } from "../../repository/manifest.js";
import type { CheckReport, OpenBackupFile, RestoreOptions, RestoreOutcome } from "../engine.js";
import { sweepAbandoned } from "../abandoned.js";
import { extractVerified } from "./extract.js";
import { compareSummaries, recordedSummary, type IndexRecord } from "./tree.js";

/**
 * Restore plan: unpack into a temporary folder beside the target (same file system), checking
 * every file against the backup's index and the tree digest in the manifest; only then
 *  - new target (absent or an empty folder): rename the folder into place;
 *  - in place: rename the live folder to `<folder>.holdfast-safety-<time>`, rename the restored
 *    one in; if that fails, the live folder is renamed back.
 * The target is never half-written: until the last rename it is untouched.
 */
export async function restoreFiles(open: OpenBackupFile, manifest: Manifest, targetPath: string, options: RestoreOptions): Promise<RestoreOutcome> {
  const existing = await lstat(targetPath).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new HoldfastError("TARGET_EXISTS", `${targetPath} exists and is not a folder`);
  const occupied = existing ? (await readdir(targetPath)).length > 0 : false;
  if (occupied && !options.inPlace) {
    throw new HoldfastError("TARGET_EXISTS", `${targetPath} is not empty`, { hint: "choose a new or empty folder for --to, or use --in-place to replace it (the current folder is kept as a safety copy)" });
  }
  const parent = dirname(targetPath);
  await mkdir(parent, { recursive: true, mode: 0o700 });
  const prefix = `.${basename(targetPath)}.holdfast-restore-`;
  await sweepAbandoned(parent, prefix);
  const temp = join(parent, `${prefix}${process.pid}-${randomBytes(4).toString("hex")}`);
  const work = await mkdtemp(join(options.tempDir, "holdfast-files-index-"));
  try {
    await mkdir(temp, { mode: 0o700 });
    const check = await unpack(open, manifest, temp, work, options);
    if (!check.ok && !options.reportOnly) {
      throw new HoldfastError("RESTORE_FAILED", `restored copy of ${manifest.id} failed its checks: ${check.problems.slice(0, 5).join("; ")}${check.problems.length > 5 ? ` (and ${check.problems.length - 5} more)` : ""}`, { hint: "the target was not touched" });
    }
    if (!occupied) {
      await rename(temp, targetPath);
      await fsyncPath(parent);
      return { target: targetPath, check };
    }
    const safetyCopy = await swapInPlace(temp, targetPath);
    return { target: targetPath, safetyCopy, check };
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw fromSystemError(err, `restoring to ${targetPath}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The index first (spooled to disk, verified by its hash), then the tar stream checked against it. */
async function unpack(open: OpenBackupFile, manifest: Manifest, temp: string, work: string, options: RestoreOptions): Promise<CheckReport> {
  const indexPath = join(work, "index.ndjson");
  await pipeline(await open("index"), createWriteStream(indexPath, { mode: 0o600, flags: "wx" }), { signal: options.signal });
  const lines = createInterface({ input: createReadStream(indexPath), crlfDelay: Infinity });
  const raw = lines[Symbol.asyncIterator](); // at once: readline drops lines read before its iterator exists
  const records = (async function* () {
    for await (const line of { [Symbol.asyncIterator]: () => raw }) if (line) yield JSON.parse(line) as IndexRecord;
  })();
  const owners = process.getuid?.() === 0;
  const outcome = await extractVerified(await open("files"), records, temp, { signal: options.signal, owners });
  lines.close();
  await fsyncPath(temp);
  const d = manifest.details;
  if (owners && typeof d.rootUid === "number" && typeof d.rootGid === "number") await chown(temp, d.rootUid, d.rootGid);
  if (typeof d.rootMode === "number") await chmod(temp, d.rootMode);
  if (typeof d.rootMtimeMs === "number") await utimes(temp, new Date(d.rootMtimeMs), new Date(d.rootMtimeMs));
  const problems = [...outcome.problems, ...compareSummaries(recordedSummary(d), outcome.summary)];
  return { ok: problems.length === 0, problems, tables: [], details: { ...outcome.summary } };
}

async function swapInPlace(restored: string, live: string): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  let safety = `${live}.holdfast-safety-${stamp}`;
  for (let n = 2; await lstat(safety).then(() => true, () => false); n++) safety = `${live}.holdfast-safety-${stamp}-${n}`;
  try {
    await rename(live, safety);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HoldfastError("RESTORE_FAILED", `cannot move ${live} aside (${code ?? (err as Error).message}); nothing was changed`, {
      hint: code === "EBUSY" || code === "EXDEV" ? "it is a mount point: restore to a new folder with --to files:<path> and copy the files in" : undefined,
    });
  }
  try {
    await rename(restored, live);
  } catch (err) {
    await rename(safety, live).catch(() => undefined);
    throw new HoldfastError("RESTORE_FAILED", `in-place restore of ${live} failed and was rolled back: ${(err as Error).message}`, { cause: err });
  }
  await fsyncPath(dirname(live));
  return safety;
}
