import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { chmod, chown, lchown, lstat, lutimes, mkdir, open, realpath, symlink, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { extract, type Extract, type Headers } from "tar-stream";
import { HoldfastError } from "../../errors.js";
import { TreeTally, type IndexRecord, type RecordType, type TreeSummary } from "./tree.js";

export interface ExtractOutcome {
  summary: TreeSummary;
  /** Entries whose size or content differs from the backup's index. */
  problems: string[];
}

export interface ExtractOptions {
  signal?: AbortSignal;
  /** Give entries their recorded owners (when running as root, as tar does). */
  owners: boolean;
}

/**
 * Unpack a tar stream into dest (a new, empty folder of our own), checking every entry against
 * the next record of the backup's index: same path and type, same size and SHA-256 as written.
 * Names are confined to dest: absolute names, `..` and anything but files, folders and symlinks
 * are refused. Symlinks are made last, after every file and folder, so no entry of the stream is
 * ever written through one (the classic symlink escape); modes and times of folders are set last.
 */
export async function extractVerified(tar: Readable, index: AsyncIterator<IndexRecord>, destPath: string, options: ExtractOptions): Promise<ExtractOutcome> {
  const dest = await realpath(destPath);
  const tally = new TreeTally();
  const problems: string[] = [];
  const dirs: IndexRecord[] = [];
  const links: IndexRecord[] = [];
  const unpack = extract();
  unpack.on("entry", (header, stream, next) => {
    writeEntry(header, stream).then(
      () => next(),
      (err: unknown) => {
        stream.resume();
        unpack.destroy(err as Error);
      },
    );
  });

  async function writeEntry(header: Headers, stream: Readable): Promise<void> {
    const rel = confinedName(header.name);
    const type = recordType(header, rel);
    const expected = (await index.next()).value as IndexRecord | undefined;
    if (!expected || expected.p !== rel || expected.t !== type) {
      throw new HoldfastError("CORRUPTED", `the tar stream's entry "${rel}" does not match the backup's index (expected ${expected ? `"${expected.p}"` : "the end"})`);
    }
    const abs = join(dest, rel);
    // Owner, mode and time as the index recorded them (exact to the ms, where tar keeps seconds).
    const record: IndexRecord = { p: rel, t: type, s: 0, m: expected.m & 0o7777, mt: expected.mt, u: expected.u, g: expected.g };
    if (type === "symlink") {
      record.l = header.linkname ?? "";
      links.push(record);
    } else if (type === "dir") {
      await mkdir(abs, { recursive: true, mode: 0o700 });
      dirs.push(record);
    } else {
      await mkdir(dirname(abs), { recursive: true, mode: 0o700 });
      const written = await writeFile(stream, abs, record, options);
      record.s = written.size;
      record.h = written.sha256;
      if (written.size !== expected.s || written.sha256 !== expected.h) problems.push(`${rel}: ${written.size} bytes with SHA-256 ${written.sha256.slice(0, 12)}…, the backup recorded ${expected.s} bytes, ${expected.h?.slice(0, 12)}…`);
    }
    stream.resume();
    tally.add(record);
  }

  await feed(tar, unpack, options.signal);
  const extra = await index.next();
  if (!extra.done) throw new HoldfastError("CORRUPTED", `the tar stream ends before "${(extra.value as IndexRecord).p}", which the backup's index lists`);
  for (const link of links) await makeSymlink(dest, link, options);
  for (const dir of dirs.reverse()) await settle(join(dest, dir.p), dir, options, "dir");
  return { summary: tally.summary(), problems };
}

/** tar → extract; by hand, as tar-stream's extract never emits the "close" stream.pipeline waits for. */
function feed(tar: Readable, unpack: Extract, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => {
      signal?.removeEventListener("abort", onAbort);
      tar.destroy();
      unpack.destroy(err);
      reject(err);
    };
    const onAbort = () => fail(new HoldfastError("INTERRUPTED", "restore interrupted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    tar.once("error", fail);
    unpack.once("error", fail);
    unpack.once("finish", () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    tar.pipe(unpack);
  });
}

/** The entry's path inside the target: relative, no `..`, no NUL; "./" prefixes are dropped. */
export function confinedName(name: string): string {
  if (name.includes("\0") || name.startsWith("/")) throw unsafe(name);
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.some((p) => p === "..")) throw unsafe(name);
  return parts.join("/");
}

function unsafe(name: string): HoldfastError {
  return new HoldfastError("CORRUPTED", `the backup holds an unsafe path ${JSON.stringify(name)} (absolute, empty or with ..); nothing was restored`);
}

function recordType(header: Headers, rel: string): RecordType {
  if (header.type === "file" || header.type === "contiguous-file") return "file";
  if (header.type === "directory") return "dir";
  if (header.type === "symlink") return "symlink";
  throw new HoldfastError("CORRUPTED", `the backup holds "${rel}" of type ${header.type ?? "unknown"}, which a files backup never stores; nothing was restored`);
}

async function writeFile(stream: Readable, abs: string, record: IndexRecord, options: ExtractOptions): Promise<{ size: number; sha256: string }> {
  // O_EXCL: a name met twice (or a name where a symlink will be) is refused, never followed.
  const handle = await open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "EEXIST") throw new HoldfastError("CORRUPTED", `the backup holds "${record.p}" twice; nothing was restored`);
    throw err;
  });
  try {
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (options.signal?.aborted) throw new HoldfastError("INTERRUPTED", `restore interrupted while writing ${record.p}`);
      size += chunk.length;
      hash.update(chunk);
      await handle.write(chunk);
    }
    await handle.sync();
    if (options.owners) await handle.chown(record.u, record.g);
    await handle.chmod(record.m);
    await handle.utimes(new Date(record.mt), new Date(record.mt));
    return { size, sha256: hash.digest("hex") };
  } finally {
    await handle.close();
  }
}

async function makeSymlink(dest: string, link: IndexRecord, options: ExtractOptions): Promise<void> {
  const abs = join(dest, link.p);
  // The folder the link goes into must be made of real folders inside dest, none reached through
  // a symlink made just before (mkdir -p would follow it out of the target).
  let parent = dest;
  for (const part of link.p.split("/").slice(0, -1)) {
    parent = join(parent, part);
    const st = await lstat(parent).catch(() => undefined);
    if (!st) await mkdir(parent, { mode: 0o700 });
    else if (!st.isDirectory()) throw new HoldfastError("CORRUPTED", `the backup's symlink "${link.p}" would be created through a symlink, outside the target; nothing was restored`);
  }
  await symlink(link.l ?? "", abs).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "EEXIST") throw new HoldfastError("CORRUPTED", `the backup holds "${link.p}" twice (as a symlink and as a file or folder); nothing was restored`);
    throw err;
  });
  await settle(abs, link, options, "symlink");
}

async function settle(abs: string, r: IndexRecord, options: ExtractOptions, kind: "dir" | "symlink"): Promise<void> {
  const time = new Date(r.mt);
  if (kind === "symlink") {
    if (options.owners) await lchown(abs, r.u, r.g);
    await lutimes(abs, time, time);
    return;
  }
  if (options.owners) await chown(abs, r.u, r.g);
  await chmod(abs, r.m);
  await utimes(abs, time, time);
}
