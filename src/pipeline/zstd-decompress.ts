import { Duplex } from "node:stream";
import binding from "zstd-napi/binding.js";

/** What one decompression step writes at most (ZSTD_DStreamOutSize: one block, 128 KiB). */
const STEP = binding.dStreamOutSize();

/**
 * zstd decompression that honours back-pressure. zstd-napi's DecompressStream turns each input
 * chunk into all of its output at once: a 1 MiB chunk of WAL or of a data directory (zero-filled
 * pages, repeated rows) held 10-20 MiB in memory until the next stage took it, per stream. Here
 * one step decompresses at most one block; when the reader is full, the rest of the input chunk
 * waits (and so does the writer) until it reads again. Output is byte for byte the same.
 */
export class ZstdDecompressStream extends Duplex {
  private readonly dctx = new binding.DCtx();
  private pending: { input: Buffer; done: (err?: Error | null) => void } | undefined;
  private inFrame = false;
  private stepping = false;

  constructor() {
    super({ readableHighWaterMark: 2 * STEP, writableHighWaterMark: 1 << 16 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.pending = { input: chunk, done };
    this.step();
  }

  override _read(): void {
    this.step();
  }

  override _final(done: (err?: Error | null) => void): void {
    if (this.inFrame) {
      done(new Error("the stream ended in the middle of a compressed frame"));
      return;
    }
    this.push(null);
    done();
  }

  /** Decompress the pending chunk until it is used up or the reader's buffer is full. */
  private step(): void {
    const job = this.pending;
    if (!job || this.stepping) return;
    this.stepping = true;
    let finished = false;
    let failure: Error | undefined;
    try {
      for (;;) {
        const out = Buffer.allocUnsafe(STEP);
        const [remaining, produced, consumed] = this.dctx.decompressStream(out, job.input);
        job.input = job.input.subarray(consumed);
        const wantsMore = produced > 0 ? this.push(out.subarray(0, produced)) : true;
        // Input used up and nothing left inside zstd (a step that did not fill its buffer, or a frame's end).
        if (job.input.length === 0 && (produced < STEP || remaining === 0)) {
          this.inFrame = remaining !== 0;
          finished = true;
          break;
        }
        if (!wantsMore) break;
      }
    } catch (err) {
      failure = err as Error;
    } finally {
      this.stepping = false;
    }
    // The writer's callback last: it may hand over the next chunk at once.
    if (finished || failure) {
      this.pending = undefined;
      job.done(failure);
    }
  }
}
