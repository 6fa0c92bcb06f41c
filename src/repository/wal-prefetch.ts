import { mkdir, rename } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { AgeKeys } from "../pipeline/age.js";
import { segmentName, segmentNumber, type WalFileName } from "../wal/names.js";
import type { WalArchive } from "./wal-archive.js";

/**
 * Read-ahead for restore_command. Each wal-fetch is a new process, and opening a passphrase
 * repository costs one scrypt; so a fetch that had to unlock also fetches the next few segments
 * (verified, decrypted) into a spool folder next to %p, and the following calls just rename them
 * into place without any key. Spooled files hold plain WAL, as pg_wal itself does.
 */
export const PREFETCH_DIR = "holdfast-prefetch";

export function spoolDirFor(dest: string): string {
  return join(dirname(resolve(dest)), PREFETCH_DIR);
}

/** true when the file was waiting in the spool and is now at dest. */
export async function takeFromSpool(dest: string, fileName: string): Promise<boolean> {
  try {
    await rename(join(spoolDirFor(dest), fileName), dest);
    return true;
  } catch {
    return false;
  }
}

/** Fetch up to `count` segments after `after` on its timeline into the spool; stops at the archive's end. */
export async function prefetchAfter(archive: WalArchive, after: WalFileName, segmentSize: number, count: number, dest: string, keys: AgeKeys | undefined, signal?: AbortSignal): Promise<number> {
  if (after.kind !== "segment" || count <= 0) return 0;
  const spool = spoolDirFor(dest);
  await mkdir(spool, { recursive: true, mode: 0o700 });
  const first = segmentNumber(after.name, segmentSize) + 1;
  let fetched = 0;
  for (let n = first; n < first + count; n += 2) {
    // Two at a time: overlaps storage reads with decryption and decompression.
    const names = [n, n + 1].filter((x) => x < first + count).map((x) => segmentName(after.timeline, x, segmentSize));
    const records = await Promise.all(names.map((name) => archive.record(name)));
    const present = names.map((name, i) => ({ name, record: records[i] })).filter((x) => x.record);
    await Promise.all(present.map((x) => archive.fetchRecord(x.record!, join(spool, x.name), keys, signal)));
    fetched += present.length;
    if (present.length < names.length) break;
  }
  return fetched;
}
