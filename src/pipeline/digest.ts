import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { HoldfastError } from "../errors.js";

/**
 * Pass-through stage that fails the stream at its end unless exactly `size` bytes with the given
 * SHA-256 went through. Placed right after storage.get, it proves the stored bytes before they are
 * trusted; placed at the end, it proves the content.
 */
export class ExpectDigest extends Transform {
  private readonly hash = createHash("sha256");
  private seen = 0;

  constructor(private readonly expected: { size: number; sha256: string }, private readonly where: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expected.size) {
      done(new HoldfastError("CORRUPTED", `${this.where} is larger than recorded (${this.expected.size} bytes)`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.seen < this.expected.size) {
      done(
        new HoldfastError("TRUNCATED", `${this.where} is truncated: ${this.seen} of ${this.expected.size} bytes`, {
          hint: "the stored file was cut short; use another backup or the offsite copy",
        }),
      );
      return;
    }
    const actual = this.hash.digest("hex");
    if (actual !== this.expected.sha256) {
      done(
        new HoldfastError("CORRUPTED", `${this.where} fails its SHA-256 check (expected ${this.expected.sha256.slice(0, 16)}…, got ${actual.slice(0, 16)}…)`, {
          hint: "the stored file is damaged; use another backup or the offsite copy",
        }),
      );
      return;
    }
    done();
  }
}
