import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import { Worker } from "node:worker_threads";
import type { FromWorker, ToWorker } from "./zstd-worker-thread.js";

/**
 * zstd compression on worker threads, for many small streams at once (a batch of WAL segments).
 * zstd-napi's stream compresses on the thread that writes to it, so four pushes in one process
 * shared one core among zstd, both SHA-256 passes and encryption. Here each stream's chunks go to
 * one of a few threads (one per core, started when first needed): the main thread hashes, encrypts
 * and writes while they compress. The output is one standard zstd frame with its checksum, as
 * compressor() writes; `zstd -d` reads it.
 */

interface Pending {
  resolve: (data: Uint8Array) => void;
  reject: (err: Error) => void;
  thread: Thread;
}

interface Thread {
  worker: Worker;
  streams: number;
}

const threads: Thread[] = [];
const pending = new Map<number, Pending>();
let nextId = 1;
let idleTimer: NodeJS.Timeout | undefined;
/** Threads left idle this long are stopped (a daemon pushes WAL now and then). */
const IDLE_MS = 10_000;

function failThread(thread: Thread, err: Error): void {
  const i = threads.indexOf(thread);
  if (i >= 0) threads.splice(i, 1);
  for (const [id, p] of pending) {
    if (p.thread !== thread) continue;
    pending.delete(id);
    p.reject(err);
  }
}

function startThread(): Thread {
  // No inherited flags: the thread only compresses (and e.g. --input-type would stop it loading).
  const worker = new Worker(new URL("./zstd-worker-thread.js", import.meta.url), { execArgv: [] });
  const thread: Thread = { worker, streams: 0 };
  worker.on("message", (m: FromWorker) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if ("error" in m) p.reject(new Error(m.error));
    else p.resolve(m.data);
  });
  worker.on("error", (err) => failThread(thread, err));
  worker.on("exit", (code) => failThread(thread, new Error(`zstd thread stopped (exit ${code})`)));
  threads.push(thread);
  return thread;
}

/** The least busy thread; a new one while there are fewer than cores and every thread is busy. */
function pickThread(): Thread {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
  const least = threads.reduce<Thread | undefined>((a, t) => (!a || t.streams < a.streams ? t : a), undefined);
  if (least && (least.streams === 0 || threads.length >= Math.min(availableParallelism(), 4))) return least;
  return startThread();
}

/** A thread keeps the process alive only while it has streams to answer. */
function take(thread: Thread): Thread {
  if (thread.streams++ === 0) thread.worker.ref();
  return thread;
}

function release(thread: Thread): void {
  if (--thread.streams === 0) thread.worker.unref();
  if (threads.every((t) => t.streams === 0) && !idleTimer) {
    idleTimer = setTimeout(() => {
      idleTimer = undefined;
      for (const t of threads.splice(0)) void t.worker.terminate();
    }, IDLE_MS);
    idleTimer.unref();
  }
}

export class ZstdWorkerCompressStream extends Transform {
  /** Each stream's requests carry their own ids; the stream's id names its context in the thread. */
  private readonly streamId = nextId++;
  private readonly thread: Thread;
  private released = false;

  constructor(level: number) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.thread = take(pickThread());
    this.post({ op: "open", id: this.streamId, level });
  }

  private post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.thread.worker.postMessage(message, transfer);
  }

  /** Sends one request and waits for its answer; requests of a stream are answered in order. */
  private request(op: "data" | "end", data?: Buffer): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      if (!threads.includes(this.thread)) {
        reject(new Error("zstd thread stopped"));
        return;
      }
      pending.set(this.streamId, { resolve, reject, thread: this.thread });
      if (op === "data") {
        // A copy of its own, handed over: the chunk's memory may be shared with other buffers.
        const copy = new Uint8Array(data!.length);
        copy.set(data!);
        this.post({ op, id: this.streamId, data: copy }, [copy.buffer]);
      } else {
        this.post({ op, id: this.streamId });
      }
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.request("data", chunk).then(
      (out) => {
        if (out.length) this.push(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
        done();
      },
      (err: Error) => done(err),
    );
  }

  override _flush(done: TransformCallback): void {
    this.request("end").then(
      (out) => {
        this.releaseThread(false);
        if (out.length) this.push(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
        done();
      },
      (err: Error) => done(err),
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.releaseThread(true);
    done(err);
  }

  private releaseThread(close: boolean): void {
    if (this.released) return;
    this.released = true;
    pending.delete(this.streamId);
    if (close && threads.includes(this.thread)) this.post({ op: "close", id: this.streamId });
    release(this.thread);
  }
}
