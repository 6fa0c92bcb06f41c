import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { checkStoredBytes, type StoredFileRecord } from "../pipeline/assemble.js";
import { ExpectDigest } from "../pipeline/digest.js";
import type { StorageBackend } from "../storage/backend.js";

/**
 * Copy one stored file (a backup's data file, an archived WAL file) to another repository as it is
 * stored (already compressed and encrypted): its size and SHA-256 are checked as the bytes pass,
 * then the copy is read back from the destination and checked again. Needs no key.
 */
export async function copyStoredFile(from: StorageBackend, to: StorageBackend, file: StoredFileRecord, signal: AbortSignal | undefined, onProgress: (n: number) => void = () => undefined): Promise<void> {
  const raw = await from.get(file.key, undefined, { signal });
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  let moved = 0;
  raw.on("data", (c: Buffer) => onProgress((moved += c.length)));
  const flowing = pipeline(raw, new ExpectDigest({ size: file.storedBytes, sha256: file.storedSha256 }, `${from.location}/${file.key}`), body, { signal });
  const [flow, put] = await Promise.allSettled([flowing, to.put(file.key, body, { signal })]);
  if (flow.status === "rejected") throw flow.reason;
  if (put.status === "rejected") throw put.reason;
  await checkStoredBytes(to, file, signal);
}
