import type { Readable } from "node:stream";

export interface StoredObject {
  key: string;
  size: number;
  modifiedAt: Date;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive; omitted means to the end. */
  end?: number;
}

export interface OperationOptions {
  signal?: AbortSignal;
}

/**
 * Where repository objects live. Keys are "/"-separated relative paths.
 * Every implementation passes test/storage/conformance.ts unchanged.
 */
export interface StorageBackend {
  /** Human-readable location for messages (never contains credentials). */
  readonly location: string;
  /**
   * Store the whole stream under key. The object becomes visible (stat/list/get) only once all
   * bytes are durably written; a failed or aborted put leaves nothing visible under key and
   * leaves any earlier object under key unchanged. Resolves with the stored size.
   */
  put(key: string, body: Readable, options?: OperationOptions): Promise<StoredObject>;
  /** A stream of the object's bytes (or a range of them). Rejects with NOT_FOUND if absent. */
  get(key: string, range?: ByteRange, options?: OperationOptions): Promise<Readable>;
  /** undefined when absent; never throws for a missing key. */
  stat(key: string, options?: OperationOptions): Promise<StoredObject | undefined>;
  /** Every object whose key starts with prefix, complete (no partial uploads), in key order. */
  list(prefix: string, options?: OperationOptions): AsyncIterable<StoredObject>;
  /** Idempotent: deleting an absent key succeeds. */
  delete(key: string, options?: OperationOptions): Promise<void>;
}

/**
 * Optional capability: create an object only if the key is absent, atomically (exclusive create on
 * a folder, a conditional write on S3). Resolves false when the key already exists. A backend
 * whose server may ignore the condition (some S3-compatible servers) says so through
 * exclusiveCreateSupported(); callers then use a scheme that needs no such primitive
 * (repository/claims.ts).
 */
export interface ExclusiveCreate {
  createExclusive(key: string, body: Buffer, options?: OperationOptions): Promise<boolean>;
  /** Absent means always supported. */
  exclusiveCreateSupported?(options?: OperationOptions): Promise<boolean>;
}

/** Whether this backend can create-if-absent atomically (asks the server once when it must). */
export async function canCreateExclusive(backend: StorageBackend, options?: OperationOptions): Promise<boolean> {
  const b = backend as StorageBackend & Partial<ExclusiveCreate>;
  if (typeof b.createExclusive !== "function") return false;
  return b.exclusiveCreateSupported ? b.exclusiveCreateSupported(options) : true;
}

/**
 * Optional capability: remove what interrupted puts left behind and nobody can see (local
 * temporaries, S3 multipart uploads) when older than maxAgeMs. Returns how many were removed, or
 * "unsupported" when the server offers no way to find them.
 */
export interface IncompleteUploadSweeper {
  sweepIncomplete(maxAgeMs: number, options?: OperationOptions): Promise<number | "unsupported">;
}

export function supportsSweep(backend: StorageBackend): backend is StorageBackend & IncompleteUploadSweeper {
  return typeof (backend as Partial<IncompleteUploadSweeper>).sweepIncomplete === "function";
}

/** Keys must stay inside the repository: no absolute paths, no "..", no empty segments. */
export function assertSafeKey(key: string): void {
  if (key.length === 0 || key.startsWith("/") || key.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new Error(`invalid storage key "${key}"`);
  }
}
