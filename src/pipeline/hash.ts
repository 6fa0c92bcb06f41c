import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

/** Pass-through stage that counts bytes and computes SHA-256 of everything that flows through. */
export class HashCounter extends Transform {
  private readonly hash = createHash("sha256");
  bytes = 0;
  private digestHex: string | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.digestHex = this.hash.digest("hex");
    done();
  }

  /** Available once the stream has finished. */
  get sha256(): string {
    if (this.digestHex === undefined) throw new Error("hash read before the stream finished");
    return this.digestHex;
  }
}

/** Calls onProgress(bytesSoFar) as data passes; used for progress bars and rate figures. */
export class ProgressTap extends Transform {
  private seen = 0;
  constructor(private readonly onProgress: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    this.onProgress(this.seen);
    done(null, chunk);
  }
}
