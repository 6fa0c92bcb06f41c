import { Readable, Writable, type Duplex } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import { HoldfastError } from "../errors.js";

const STATE = Symbol("holdfast.verified");

interface VerifiedState {
  /** Settles once every stage (and so every hash check) has seen the last stored byte. */
  done: Promise<void>;
  /** Stop the checks and the reading of storage at once. */
  abandon(): void;
}

/**
 * The consumer's end of a checked pipeline (storage ──checks──▶ consumer).
 *
 * 'end' is emitted only after every check passed, so a consumer that reads to the end has proof.
 * A consumer may stop earlier — pg_restore exits once it has what it needs, a tar reader stops at
 * the end-of-archive blocks — and then never learns that the bytes it skipped were wrong. So:
 *  - when the consumer stops (destroys the stream, or a pipe to it closes), the unread rest keeps
 *    flowing through the checks and is thrown away;
 *  - a consumer that fails with its own error tears the whole pipeline down (nothing to prove);
 *  - finishVerified(stream) ends consumption and settles only when the checks have run: every
 *    consumer awaits it before it reports success or commits anything.
 */
export function verifiedStream(source: Readable, stages: Duplex[], signal?: AbortSignal): Readable {
  let discard = false;
  let waiting: (() => void) | undefined;
  const release = (): void => {
    const next = waiting;
    waiting = undefined;
    next?.();
  };
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      if (discard) callback();
      else if (out.push(chunk)) callback();
      else waiting = callback;
    },
    final(callback) {
      if (!discard) out.push(null);
      callback();
    },
  });
  const out = new Readable({
    highWaterMark: 1 << 20,
    read: release,
    destroy(err, callback) {
      if (err && !consumerStopped(err)) sink.destroy(err);
      else {
        discard = true;
        release();
      }
      callback(err);
    },
  });
  const stop = new AbortController();
  const done = pipeline([source, ...stages, sink] as unknown as NodeJS.ReadableStream[], { signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal });
  done.catch((err: unknown) => {
    if (!out.destroyed) out.destroy(err as Error);
  });
  const abandon = (): void => {
    if (!out.destroyed) out.destroy();
    stop.abort();
  };
  (out as unknown as Record<symbol, VerifiedState>)[STATE] = { done, abandon };
  return out;
}

/**
 * Stop consuming `stream` and wait until its checks have run over every stored byte (the part the
 * consumer did not read included). Rejects with the check's error (CORRUPTED, TRUNCATED, …).
 * Safe to call after the stream ended, failed or was destroyed. Any other stream is read to its end.
 */
export async function finishVerified(stream: Readable): Promise<void> {
  const state = (stream as unknown as Record<symbol, VerifiedState | undefined>)[STATE];
  if (!state) {
    if (stream.readableEnded) return;
    if (stream.destroyed) throw new HoldfastError("INTERNAL", "a backup stream was closed before it was read to its end and checked");
    stream.resume();
    await finished(stream);
    return;
  }
  if (!stream.readableEnded && !stream.destroyed) stream.destroy();
  await state.done;
}

/**
 * Stop reading `stream` and stop its checks too, instead of letting the unread rest flow through
 * them: for a peek at the first bytes (a tar header) whose only use is a decision that the later,
 * fully checked read of the same file proves again. Without it a peek costs a second complete
 * read, decryption and decompression of the file, beside the real one. Nothing read from an
 * abandoned stream may be written or trusted. Any other stream is destroyed.
 */
export function abandonVerified(stream: Readable): void {
  const state = (stream as unknown as Record<symbol, VerifiedState | undefined>)[STATE];
  if (state) state.abandon();
  else stream.destroy();
}

/**
 * Errors that mean "the consumer stopped reading", not "the consumer failed": a closed pipe, and
 * the AbortError a `for await` loop leaves when it breaks out early.
 */
function consumerStopped(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "EPIPE" || code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ERR_STREAM_DESTROYED" || code === "ABORT_ERR";
}
