import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import Database from "better-sqlite3";
import { HoldfastError, fromSystemError } from "../../errors.js";
import { fsyncPath } from "../../storage/local.js";
import type { Manifest } from "../../repository/manifest.js";
import type { CheckReport, OpenBackupFile, RestoreOptions, RestoreOutcome } from "../engine.js";
import { sweepAbandoned } from "../abandoned.js";

const SIDE_FILES = ["-wal", "-shm", "-journal"];

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/**
 * Restore plan: write the verified stream to a temporary file beside the target (so nothing is
 * touched until every byte has passed its SHA-256 and the file passes integrity_check), then
 *  - new target: rename into place;
 *  - in place: checkpoint the live database, move it and its -wal/-shm aside into a safety
 *    folder, rename the restored file in; if any step fails, move the originals back.
 */
export async function restoreSqlite(
  openFile: OpenBackupFile,
  manifest: Manifest,
  targetPath: string,
  options: RestoreOptions,
  check: (path: string) => CheckReport,
): Promise<RestoreOutcome> {
  const targetExists = await exists(targetPath);
  if (targetExists && !options.inPlace) {
    throw new HoldfastError("TARGET_EXISTS", `${targetPath} already exists`, { hint: "choose a new --to path, or use --in-place to replace it (a safety copy is kept)" });
  }
  const dir = dirname(targetPath);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const prefix = `.${basename(targetPath)}.holdfast-restore-`;
  await sweepAbandoned(dir, prefix);
  const temp = join(dir, `${prefix}${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    await pipeline(await openFile("database"), createWriteStream(temp, { mode: 0o600, flags: "wx" }), { signal: options.signal });
    await fsyncPath(temp);
    const report = check(temp);
    await removeSides(temp); // a read-only open of a WAL-mode file leaves empty -wal/-shm behind
    if (!report.ok && !options.reportOnly) {
      throw new HoldfastError("RESTORE_FAILED", `restored copy of ${manifest.id} failed its checks: ${report.problems.join("; ")}`, { hint: "the target was not touched" });
    }
    if (!options.inPlace || !targetExists) {
      await rename(temp, targetPath);
      await fsyncPath(dir);
      return { target: targetPath, check: report };
    }
    const safetyCopy = await swapInPlace(temp, targetPath);
    return { target: targetPath, safetyCopy, check: report };
  } catch (err) {
    await removeWithSides(temp);
    throw fromSystemError(err, `restoring to ${targetPath}`);
  }
}

async function removeWithSides(path: string): Promise<void> {
  await rm(path, { force: true });
  await removeSides(path);
}

async function removeSides(path: string): Promise<void> {
  for (const s of SIDE_FILES) await rm(path + s, { force: true });
}

async function swapInPlace(restored: string, live: string): Promise<string> {
  // Fold the live WAL into the main file so the safety copy is complete on its own.
  try {
    const db = new Database(live, { fileMustExist: true });
    db.pragma("busy_timeout = 10000");
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.close();
  } catch (err) {
    throw new HoldfastError("RESTORE_FAILED", `cannot checkpoint the live database ${live}: ${(err as Error).message}`, {
      hint: "stop the application that writes to it, then retry; nothing was changed",
    });
  }
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const safetyDir = join(dirname(live), `.holdfast-safety`, `${basename(live)}-${stamp}`);
  const moved: [string, string][] = [];
  try {
    await mkdir(safetyDir, { recursive: true, mode: 0o700 });
    for (const suffix of ["", ...SIDE_FILES]) {
      const from = live + suffix;
      if (await exists(from)) {
        const to = join(safetyDir, basename(live) + suffix);
        await rename(from, to);
        moved.push([from, to]);
      }
    }
    await rename(restored, live);
    await fsyncPath(dirname(live));
    return join(safetyDir, basename(live));
  } catch (err) {
    // Put the original back exactly as it was.
    for (const [from, to] of moved.reverse()) await rename(to, from).catch(() => undefined);
    throw new HoldfastError("RESTORE_FAILED", `in-place restore of ${live} failed and was rolled back: ${(err as Error).message}`, { cause: err });
  }
}
