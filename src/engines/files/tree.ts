import { createHash } from "node:crypto";
import { lstat, readdir } from "node:fs/promises";
import type { Stats } from "node:fs";
import { join } from "node:path";
import { HoldfastError } from "../../errors.js";

/**
 * A folder tree as this engine sees it: walked depth first, each folder's names in sorted order,
 * so a backup, its tar stream, its index and a later check all list entries in the same order.
 */
export type TreeEntryKind = "file" | "dir" | "symlink" | "other" | "gone";

export interface TreeEntry {
  /** Path inside the tree, "/"-separated, no leading "./". */
  rel: string;
  abs: string;
  kind: TreeEntryKind;
  stat?: Stats;
}

export async function* walkTree(root: string, rel = ""): AsyncGenerator<TreeEntry> {
  const abs = rel ? join(root, rel) : root;
  let names: Buffer[];
  try {
    names = await readdir(abs, { encoding: "buffer" });
  } catch (err) {
    throw unreadable(err, abs);
  }
  for (const name of names.map((b) => utf8Name(b, abs)).sort()) {
    const childRel = rel ? `${rel}/${name}` : name;
    const childAbs = join(abs, name);
    let stat: Stats;
    try {
      stat = await lstat(childAbs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        yield { rel: childRel, abs: childAbs, kind: "gone" };
        continue;
      }
      throw unreadable(err, childAbs);
    }
    const kind: TreeEntryKind = stat.isFile() ? "file" : stat.isDirectory() ? "dir" : stat.isSymbolicLink() ? "symlink" : "other";
    yield { rel: childRel, abs: childAbs, kind, stat };
    if (kind === "dir") yield* walkTree(root, childRel);
  }
}

function utf8Name(raw: Buffer, dir: string): string {
  const name = raw.toString("utf8");
  if (!Buffer.from(name, "utf8").equals(raw)) {
    throw new HoldfastError("SOURCE_INVALID", `a file name in ${dir} is not valid UTF-8 (${JSON.stringify(name)})`, { hint: "rename it: file names are stored as UTF-8 in the tar stream" });
  }
  return name;
}

/** An error reading the source tree, naming the path (never skipped silently). */
export function unreadable(err: unknown, path: string): HoldfastError {
  if (err instanceof HoldfastError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EACCES" || code === "EPERM") {
    return new HoldfastError("SOURCE_MISSING", `cannot read ${path}: permission denied`, { hint: "run the backup as a user that can read every file of the folder (root, or the owner)" });
  }
  if (code === "ENOENT") return new HoldfastError("SOURCE_MISSING", `not found: ${path}`);
  return new HoldfastError("SOURCE_INVALID", `cannot read ${path}: ${(err as Error).message}`);
}

export type RecordType = "file" | "dir" | "symlink";

/** One line of a backup's index (index.ndjson): what was stored for one entry, in tar order. */
export interface IndexRecord {
  /** path inside the tree */
  p: string;
  t: RecordType;
  /** bytes stored (0 for folders and symlinks) */
  s: number;
  /** SHA-256 of the stored bytes (files) */
  h?: string;
  /** permission bits */
  m: number;
  /** symlink target */
  l?: string;
  /** mtime, ms since the epoch */
  mt: number;
  u: number;
  g: number;
}

export interface TreeSummary {
  fileCount: number;
  dirCount: number;
  symlinkCount: number;
  totalBytes: number;
  /** SHA-256 over every entry's type, path, size, content hash, mode and link target, in tree order. */
  treeSha256: string;
}

/** Counts and the tree digest, fed one record at a time (memory stays flat whatever the tree). */
export class TreeTally {
  private readonly hash = createHash("sha256");
  private readonly counts = { file: 0, dir: 0, symlink: 0 };
  private bytes = 0;

  add(r: IndexRecord): void {
    this.hash.update(`${JSON.stringify([r.t, r.p, r.s, r.h ?? "", r.m, r.l ?? ""])}\n`);
    this.counts[r.t] += 1;
    this.bytes += r.s;
  }

  summary(): TreeSummary {
    return { fileCount: this.counts.file, dirCount: this.counts.dir, symlinkCount: this.counts.symlink, totalBytes: this.bytes, treeSha256: this.hash.digest("hex") };
  }
}

/** The summary a manifest recorded (details of a files backup). */
export function recordedSummary(details: Record<string, unknown>): TreeSummary {
  const n = (k: string) => (typeof details[k] === "number" ? (details[k] as number) : -1);
  return { fileCount: n("fileCount"), dirCount: n("dirCount"), symlinkCount: n("symlinkCount"), totalBytes: n("totalBytes"), treeSha256: String(details.treeSha256 ?? "") };
}

/** Differences between a recorded summary and one taken of a restored tree. */
export function compareSummaries(expected: TreeSummary, actual: TreeSummary): string[] {
  const problems: string[] = [];
  if (actual.fileCount !== expected.fileCount) problems.push(`${actual.fileCount} files, expected ${expected.fileCount}`);
  if (actual.dirCount !== expected.dirCount) problems.push(`${actual.dirCount} folders, expected ${expected.dirCount}`);
  if (actual.symlinkCount !== expected.symlinkCount) problems.push(`${actual.symlinkCount} symlinks, expected ${expected.symlinkCount}`);
  if (actual.totalBytes !== expected.totalBytes) problems.push(`${actual.totalBytes} bytes, expected ${expected.totalBytes}`);
  if (problems.length === 0 && actual.treeSha256 !== expected.treeSha256) problems.push("file list, contents or modes differ from the backup (tree digest)");
  return problems;
}
