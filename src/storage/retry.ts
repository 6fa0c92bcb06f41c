import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { HoldfastError } from "../errors.js";
import type { ByteRange, ExclusiveCreate, IncompleteUploadSweeper, OperationOptions, StorageBackend, StoredObject } from "./backend.js";
import { canCreateExclusive, supportsSweep } from "./backend.js";
import { httpStatusOf, networkCodeOf } from "./s3-errors.js";

export interface RetryPolicy {
  /** Total attempts per operation (1 = no retry). */
  attempts: number;
  /** First back-off; doubles each time, with full jitter, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

const RECREATE = Symbol("holdfast.recreateBody");

/** A body the retry wrapper may rebuild for another attempt (a file re-opened, a buffer re-read). */
export function replayable(make: () => Readable): Readable {
  return Object.assign(make(), { [RECREATE]: make });
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 4000 };

const THROTTLING = new Set(["SlowDown", "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "RequestTimeout", "TimeoutError", "InternalError", "ServiceUnavailable"]);

/**
 * A fault worth another try: HTTP 5xx or 429, throttling, a reset/refused/timed-out connection.
 * Looks through HoldfastError causes, so it works on what any backend throws.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof HoldfastError && (err.code === "INTERRUPTED" || err.code === "AUTH_FAILED" || err.code === "NOT_FOUND" || err.code === "USAGE")) return false;
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const status = httpStatusOf(e);
    if (status !== undefined && (status >= 500 || status === 429)) return true;
    if (THROTTLING.has((e as Error).name)) return true;
    if ((e as { $retryable?: unknown }).$retryable) return true;
  }
  return networkCodeOf(err) !== undefined;
}

/**
 * Wraps any backend and retries transient faults with exponential back-off and full jitter
 * (restic's backend/retry). Reads, stats, listings and deletes are safe to repeat.
 *
 * put() is repeated only while its body has not been touched: once a stream has given bytes to a
 * failed attempt they are gone and a retry would store a short object (or one that passes only
 * because the count happens to match). Callers with re-creatable data (copy, small JSON objects)
 * pass a fresh stream per call; a backup's pipeline cannot be rewound, so a failed upload fails
 * the backup, which leaves nothing visible and is simply re-run. Inside an S3 multipart upload
 * every part request is already retried by the SDK, which holds that part in memory.
 *
 * A listing is retried only before its first object was yielded (no duplicates downstream).
 */
export class RetryBackend implements StorageBackend, IncompleteUploadSweeper, ExclusiveCreate {
  readonly location: string;

  constructor(
    private readonly inner: StorageBackend,
    private readonly policy: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.location = inner.location;
  }

  private async attempt<T>(op: () => Promise<T>, signal: AbortSignal | undefined, canRetry: () => boolean = () => true): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await op();
      } catch (err) {
        if (n >= this.policy.attempts || signal?.aborted || !canRetry() || !isTransient(err)) throw err;
        const ceiling = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (n - 1));
        await sleep(Math.random() * ceiling, undefined, { signal }).catch(() => {
          throw err;
        });
      }
    }
  }

  put(key: string, body: Readable, options: OperationOptions = {}): Promise<StoredObject> {
    let current = body;
    const recreate = (body as Partial<Record<typeof RECREATE, () => Readable>>)[RECREATE];
    const canRetry = (): boolean => {
      if (!current.readableDidRead && !current.destroyed) return true;
      if (!recreate) return false;
      current = recreate();
      return true;
    };
    return this.attempt(() => this.inner.put(key, current, options), options.signal, canRetry);
  }

  get(key: string, range?: ByteRange, options: OperationOptions = {}): Promise<Readable> {
    return this.attempt(() => this.inner.get(key, range, options), options.signal);
  }

  stat(key: string, options: OperationOptions = {}): Promise<StoredObject | undefined> {
    return this.attempt(() => this.inner.stat(key, options), options.signal);
  }

  async *list(prefix: string, options: OperationOptions = {}): AsyncIterable<StoredObject> {
    for (let n = 1; ; n++) {
      let yielded = false;
      try {
        for await (const obj of this.inner.list(prefix, options)) {
          yielded = true;
          yield obj;
        }
        return;
      } catch (err) {
        if (yielded || n >= this.policy.attempts || options.signal?.aborted || !isTransient(err)) throw err;
        await sleep(Math.random() * Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (n - 1)), undefined, { signal: options.signal });
      }
    }
  }

  delete(key: string, options: OperationOptions = {}): Promise<void> {
    return this.attempt(() => this.inner.delete(key, options), options.signal);
  }

  async sweepIncomplete(maxAgeMs: number, options: OperationOptions = {}): Promise<number | "unsupported"> {
    if (!supportsSweep(this.inner)) return "unsupported";
    const inner = this.inner;
    return this.attempt(() => inner.sweepIncomplete(maxAgeMs, options), options.signal);
  }

  /** Retried like any write: the inner backend tells a retry that already won (S3Backend.createExclusive). */
  createExclusive(key: string, body: Buffer, options: OperationOptions = {}): Promise<boolean> {
    const inner = this.inner as StorageBackend & Partial<ExclusiveCreate>;
    if (!inner.createExclusive) throw new HoldfastError("INTERNAL", `${this.location} cannot create objects exclusively`);
    return this.attempt(() => inner.createExclusive!(key, body, options), options.signal);
  }

  exclusiveCreateSupported(options: OperationOptions = {}): Promise<boolean> {
    return this.attempt(() => canCreateExclusive(this.inner, options), options.signal);
  }
}
