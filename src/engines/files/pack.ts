import { createHash } from "node:crypto";
import { constants, type WriteStream } from "node:fs";
import { open, readlink } from "node:fs/promises";
import { once } from "node:events";
import type { Stats } from "node:fs";
import type { Writable } from "node:stream";
import type { Headers, Pack } from "tar-stream";
import { HoldfastError } from "../../errors.js";
import { TreeTally, unreadable, walkTree, type IndexRecord, type TreeEntry, type TreeSummary } from "./tree.js";

/** ustar's octal fields end at 8 GiB (size) and 2^21 (ids); beyond that pax records carry them. */
const USTAR_MAX_SIZE = 8 * 1024 ** 3 - 1;
const USTAR_MAX_ID = 0o7777777;
const PAD = Buffer.alloc(1 << 20);

export interface PackOutcome {
  summary: TreeSummary;
  /** Sockets, fifos and devices: not stored (as tar users expect, they are recreated by their programs). */
  skipped: string[];
  warnings: string[];
}

/**
 * Write the tree under root into pack as a POSIX (pax) tar stream and each entry's record into
 * index, in the same order. File contents stream through (a 1 GB file is never held in memory);
 * a file that changes while read is stored exactly as read, padded with zeros if it shrank, so the
 * tar stays valid, and said in a warning. Unreadable entries are an error naming the path.
 */
export async function packTree(root: string, pack: Pack, index: WriteStream, signal?: AbortSignal): Promise<PackOutcome> {
  const tally = new TreeTally();
  const skipped: string[] = [];
  const warnings: string[] = [];
  for await (const entry of walkTree(root)) {
    if (signal?.aborted || pack._destroyed) throw new HoldfastError("INTERRUPTED", `backup of ${root} interrupted`);
    const record = await packEntry(entry, pack, { skipped, warnings }, signal);
    if (!record) continue;
    tally.add(record);
    if (!index.write(`${JSON.stringify(record)}\n`)) await once(index, "drain");
  }
  pack.finalize();
  return { summary: tally.summary(), skipped, warnings };
}

async function packEntry(entry: TreeEntry, pack: Pack, outcome: Omit<PackOutcome, "summary">, signal?: AbortSignal): Promise<IndexRecord | undefined> {
  if (entry.kind === "gone") {
    outcome.warnings.push(`${entry.abs} was removed while the backup ran; not stored`);
    return undefined;
  }
  if (entry.kind === "other") {
    outcome.skipped.push(entry.rel);
    outcome.warnings.push(`${entry.abs} is a ${specialKind(entry.stat!)}; not stored`);
    return undefined;
  }
  if (entry.kind === "file") return packFile(entry, pack, outcome, signal);
  const st = entry.stat!;
  const record: IndexRecord = { p: entry.rel, t: entry.kind, s: 0, m: st.mode & 0o7777, mt: Math.trunc(st.mtimeMs), u: st.uid, g: st.gid };
  if (entry.kind === "symlink") {
    try {
      record.l = await readlink(entry.abs);
    } catch (err) {
      throw unreadable(err, entry.abs);
    }
  }
  await new Promise<void>((resolve, reject) => pack.entry(headerOf(record, entry.kind === "symlink" ? "symlink" : "directory"), (err) => (err ? reject(err) : resolve())));
  return record;
}

async function packFile(entry: TreeEntry, pack: Pack, outcome: Omit<PackOutcome, "summary">, signal?: AbortSignal): Promise<IndexRecord | undefined> {
  let handle;
  try {
    handle = await open(entry.abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return packEntry({ ...entry, kind: "gone" }, pack, outcome);
    throw unreadable(err, entry.abs);
  }
  try {
    const before = await handle.stat();
    const size = before.size;
    const record: IndexRecord = { p: entry.rel, t: "file", s: size, m: before.mode & 0o7777, mt: Math.trunc(before.mtimeMs), u: before.uid, g: before.gid };
    const hash = createHash("sha256");
    let fromFile = 0;
    const source = size > 0 ? handle.createReadStream({ start: 0, end: size - 1, autoClose: false, highWaterMark: 1 << 20 }) : undefined;
    async function* content() {
      for await (const chunk of (source ?? []) as AsyncIterable<Buffer>) {
        fromFile += chunk.length;
        hash.update(chunk);
        yield chunk;
      }
      for (let padded = fromFile; padded < size; ) {
        const zeros = PAD.subarray(0, Math.min(PAD.length, size - padded));
        padded += zeros.length;
        hash.update(zeros);
        yield zeros;
      }
    }
    // tar-stream's entry sink never emits "close", which stream.pipeline waits for: write by hand.
    let sink!: Writable;
    const stored = new Promise<void>((res, rej) => (sink = pack.entry(headerOf(record, "file"), (err) => (err ? rej(err) : res()))));
    stored.catch(() => undefined);
    try {
      for await (const chunk of content()) if (!sink.write(chunk)) await once(sink, "drain", { signal });
      sink.end();
      await stored;
    } catch (err) {
      throw readFailure(err, entry.abs);
    }
    const after = await handle.stat();
    if (fromFile < size) outcome.warnings.push(`${entry.abs} shrank from ${size} to ${fromFile} bytes while read; stored padded with zeros`);
    else if (after.size !== size || after.mtimeMs !== before.mtimeMs || after.ctimeMs !== before.ctimeMs) outcome.warnings.push(`${entry.abs} changed while read; stored as read (${size} bytes)`);
    record.h = hash.digest("hex");
    return record;
  } finally {
    await handle.close();
  }
}

function readFailure(err: unknown, path: string): HoldfastError {
  if (err instanceof HoldfastError) return err;
  if ((err as Error).name === "AbortError") return new HoldfastError("INTERRUPTED", `backup interrupted while reading ${path}`);
  return unreadable(err, path);
}

function headerOf(r: IndexRecord, type: Headers["type"]): Headers {
  const pax: Record<string, string> = {};
  if (r.s > USTAR_MAX_SIZE) pax.size = String(r.s);
  if (r.u > USTAR_MAX_ID) pax.uid = String(r.u);
  if (r.g > USTAR_MAX_ID) pax.gid = String(r.g);
  const big = Object.keys(pax).length > 0;
  return {
    name: r.p,
    type,
    size: r.s,
    mode: r.m,
    mtime: new Date(r.mt),
    uid: Math.min(r.u, USTAR_MAX_ID),
    gid: Math.min(r.g, USTAR_MAX_ID),
    linkname: r.l,
    pax: big ? { path: r.p, ...(r.l ? { linkpath: r.l } : {}), ...pax } : undefined,
  };
}

function specialKind(st: Stats): string {
  if (st.isSocket()) return "socket";
  if (st.isFIFO()) return "fifo";
  if (st.isCharacterDevice()) return "character device";
  if (st.isBlockDevice()) return "block device";
  return "special file";
}
