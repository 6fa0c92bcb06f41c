import { PassThrough, Writable, type Duplex, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HoldfastError, fromSystemError } from "../errors.js";
import type { StorageBackend } from "../storage/backend.js";
import { AgeDecryptStream, AgeEncryptStream, type AgeKeys } from "./age.js";
import { compressor, decompressor, type CompressionSettings, type Compression } from "./compression.js";
import { ExpectDigest } from "./digest.js";
import { HashCounter, ProgressTap } from "./hash.js";
import { keyIdOf } from "./key-id.js";
import { verifiedStream } from "./verified.js";

export { finishVerified } from "./verified.js";

/** What the manifest records of one stored file: two hashes (content, and bytes as stored). */
export interface StoredFileRecord {
  name: string;
  key: string;
  contentBytes: number;
  contentSha256: string;
  storedBytes: number;
  storedSha256: string;
  compression: { algorithm: Compression; level: number };
  encryption: "age" | "none";
  /** keyIdOf(recipients) of an encrypted file. */
  keyId?: string;
}

export interface StoreOptions {
  compression: CompressionSettings & { level: number };
  /** Recipients to encrypt to; undefined stores plaintext (repository created with --encryption none). */
  recipients?: string[];
  signal?: AbortSignal;
  onProgress?: (contentBytes: number) => void;
}

/**
 * source ──hash content──▶ compress ──▶ encrypt ──hash stored──▶ storage.put
 * Each stage is a stream; back-pressure from storage throttles the source.
 */
export async function storeStream(source: Readable, backend: StorageBackend, name: string, key: string, options: StoreOptions): Promise<StoredFileRecord> {
  const content = new HashCounter();
  const stored = new HashCounter();
  const stages: Duplex[] = [content];
  if (options.onProgress) stages.push(new ProgressTap(options.onProgress));
  stages.push(compressor(options.compression));
  if (options.recipients) stages.push(new AgeEncryptStream(options.recipients));
  stages.push(stored);
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  const flowing = pipeline([source, ...stages, body] as unknown as NodeJS.ReadableStream[], { signal: options.signal });
  const [flowResult, putResult] = await Promise.allSettled([flowing, backend.put(key, body, { signal: options.signal })]);
  // A source or stage error explains a failed put better than the put's "premature close"; a
  // storage error (disk full, S3 down) explains the stages' premature close better than they do.
  if (flowResult.status === "rejected" && !isPrematureClose(flowResult.reason)) {
    throw fromSystemError(flowResult.reason, `storing ${name}`);
  }
  if (putResult.status === "rejected") throw fromSystemError(putResult.reason, `${backend.location}/${key}`);
  if (flowResult.status === "rejected") throw fromSystemError(flowResult.reason, `storing ${name}`);
  if (putResult.value.size !== stored.bytes) {
    throw new HoldfastError("STORAGE_FAILED", `${backend.location}/${key}: stored ${putResult.value.size} bytes, sent ${stored.bytes}`);
  }
  return {
    name,
    key,
    contentBytes: content.bytes,
    contentSha256: content.sha256,
    storedBytes: stored.bytes,
    storedSha256: stored.sha256,
    compression: { algorithm: options.compression.algorithm, level: options.compression.level },
    encryption: options.recipients ? "age" : "none",
    ...(options.recipients ? { keyId: keyIdOf(options.recipients) } : {}),
  };
}

export interface OpenOptions {
  keys?: AgeKeys;
  signal?: AbortSignal;
  onProgress?: (storedBytes: number) => void;
}

/**
 * storage.get ──check stored hash──▶ decrypt ──▶ decompress ──check content hash──▶ caller.
 * The returned stream errors (and so the caller's pipeline rejects) if any check fails, and ends
 * only after every check passed. A caller must write to a temporary place (or inside a
 * transaction) and, before it reports success or commits, await finishVerified(stream): that also
 * covers a consumer that stopped reading early (see verified.ts).
 */
export async function openStoredFile(backend: StorageBackend, file: StoredFileRecord, options: OpenOptions = {}): Promise<Readable> {
  const where = `${backend.location}/${file.key}`;
  let raw: Readable;
  try {
    raw = await backend.get(file.key, undefined, { signal: options.signal });
  } catch (err) {
    if (err instanceof HoldfastError && err.code === "NOT_FOUND") {
      throw new HoldfastError("CORRUPTED", `stored file missing: ${where}`, { hint: "the backup is damaged; use another backup or the offsite copy" });
    }
    throw err;
  }
  const stages: Duplex[] = [new ExpectDigest({ size: file.storedBytes, sha256: file.storedSha256 }, where)];
  if (options.onProgress) stages.push(new ProgressTap(options.onProgress));
  if (file.encryption === "age") stages.push(new AgeDecryptStream(options.keys?.identities ?? [], where));
  stages.push(wrapDecompressErrors(decompressor(file.compression.algorithm), where));
  stages.push(new ExpectDigest({ size: file.contentBytes, sha256: file.contentSha256 }, `content of ${where}`));
  return verifiedStream(raw, stages, options.signal);
}

/** Check only the stored bytes (size + SHA-256): works without the key, like `verify` of storage. */
export async function checkStoredBytes(backend: StorageBackend, file: StoredFileRecord, signal?: AbortSignal): Promise<void> {
  const raw = await backend.get(file.key, undefined, { signal }).catch((err: unknown) => {
    if (err instanceof HoldfastError && err.code === "NOT_FOUND") {
      throw new HoldfastError("CORRUPTED", `stored file missing: ${backend.location}/${file.key}`);
    }
    throw err;
  });
  await pipeline(raw, new ExpectDigest({ size: file.storedBytes, sha256: file.storedSha256 }, `${backend.location}/${file.key}`), discard(), { signal });
}

/** Read a stream to its end, throwing away the bytes (used to verify without writing). */
export function discard(): Writable {
  return new Writable({ write: (_c, _e, done) => done(), highWaterMark: 1 << 20 });
}

function wrapDecompressErrors(stage: Duplex, where: string): Duplex {
  const original = stage.destroy.bind(stage);
  stage.destroy = (err?: Error | null) => {
    if (err && !(err instanceof HoldfastError)) {
      return original(new HoldfastError("CORRUPTED", `${where}: cannot decompress (${err.message})`, { cause: err }));
    }
    return original(err ?? undefined);
  };
  return stage;
}

function isPrematureClose(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  // ABORT_ERR: an async-iterator stage whose stream was destroyed because storage failed (a user's
  // abort shows in the put's own error as well).
  return code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ERR_STREAM_DESTROYED" || code === "ABORT_ERR";
}
