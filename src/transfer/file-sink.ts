import { createReadStream, createWriteStream } from "node:fs";
import { access, mkdtemp, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HoldfastError, fromSystemError } from "../errors.js";
import { AgeEncryptStream } from "../pipeline/age.js";
import { compressBlock, compressor, type CompressionSettings } from "../pipeline/compression.js";
import { HashCounter, ProgressTap } from "../pipeline/hash.js";
import type { ExportSink, SinkCommit, StreamRecord } from "./sink.js";
import { tarEnd, tarEntry, tarHeader, tarPadding } from "./tar-frames.js";

interface Spooled {
  name: string;
  path: string;
  bytes: number;
}

/**
 * An export as one portable file: a tar of export.json, schema.json and the table streams (in
 * that order, so a reader learns the hashes before the rows), compressed and, unless
 * --encryption none, encrypted to the repository's recipients — `age -d | zstd -d | tar -x` opens
 * it. tar needs each entry's size before its body, so a table stream is compressed as it is read
 * into a 0600 spool file of its own (in a 0700 temporary folder); the commit then writes the tar
 * headers and paddings as small frames of their own between the spooled frames, unchanged: zstd
 * frames (and gzip members) concatenate, so the whole decompresses to exactly the tar. The file
 * appears under its name only once complete.
 */
export class FileSink implements ExportSink {
  private spooled: Spooled[] = [];

  private constructor(private readonly dir: string, private readonly out: string, private readonly compression: CompressionSettings, private readonly recipients: string[] | undefined) {}

  static async create(tmpDir: string, out: string, compression: CompressionSettings, recipients: string[] | undefined): Promise<FileSink> {
    if (await access(out).then(() => true, () => false)) throw new HoldfastError("TARGET_EXISTS", `${out} already exists`, { hint: "choose a new file name, or remove the old export first" });
    const dir = await mkdtemp(join(tmpDir, "holdfast-export-"));
    return new FileSink(dir, out, compression, recipients);
  }

  async put(name: string, stream: Readable, onProgress?: (bytes: number) => void): Promise<StreamRecord> {
    const path = join(this.dir, String(this.spooled.length));
    const counter = new HashCounter();
    const stages = [counter, ...(onProgress ? [new ProgressTap(onProgress)] : []), compressor(this.compression)];
    await pipeline([stream, ...stages, createWriteStream(path, { mode: 0o600 })] as unknown as NodeJS.ReadableStream[]);
    this.spooled.push({ name, path, bytes: counter.bytes });
    return { name, bytes: counter.bytes, sha256: counter.sha256 };
  }

  /** The compressed archive: header frames around the spooled table frames, then the end frame. */
  private async *archive(c: SinkCommit): AsyncIterable<Buffer> {
    const frame = (parts: Buffer[]) => compressBlock(this.compression, Buffer.concat(parts));
    let pending = [tarEntry(c.manifestName, c.manifest, c.started), tarEntry(c.schemaName, c.schema, c.started)];
    for (const s of this.spooled) {
      yield frame([...pending, tarHeader(s.name, s.bytes, c.started)]);
      yield* createReadStream(s.path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
      pending = [tarPadding(s.bytes)];
    }
    yield frame([...pending, tarEnd()]);
  }

  async commit(c: SinkCommit): Promise<string> {
    const partial = `${this.out}.partial`;
    const stages = this.recipients ? [new AgeEncryptStream(this.recipients)] : [];
    try {
      await pipeline([Readable.from(this.archive(c), { objectMode: false }), ...stages, createWriteStream(partial, { mode: 0o600 })] as unknown as NodeJS.ReadableStream[]);
      await rename(partial, this.out);
    } catch (err) {
      await rm(partial, { force: true });
      throw fromSystemError(err, this.out);
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
    return this.out;
  }

  async abort(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
