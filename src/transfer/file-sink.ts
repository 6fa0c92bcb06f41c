import { createReadStream, createWriteStream } from "node:fs";
import { access, mkdtemp, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { HoldfastError, fromSystemError } from "../errors.js";
import { AgeEncryptStream } from "../pipeline/age.js";
import { compressor, type CompressionSettings } from "../pipeline/compression.js";
import { HashCounter, ProgressTap } from "../pipeline/hash.js";
import type { ExportSink, SinkCommit, StreamRecord } from "./sink.js";

/**
 * An export as one portable file: a tar of export.json, schema.json and the table streams (in
 * that order, so a reader learns the hashes before the rows), compressed (zstd frame) and, unless
 * --encryption none, encrypted to the repository's recipients — `age -d | zstd -d | tar -x` opens
 * it. Table streams are spooled to 0600 files in a 0700 temporary folder (tar needs each entry's
 * size first); the file appears under its name only once complete.
 */
export class FileSink implements ExportSink {
  private spooled: { name: string; path: string; bytes: number }[] = [];

  private constructor(private readonly dir: string, private readonly out: string, private readonly compression: CompressionSettings, private readonly recipients: string[] | undefined) {}

  static async create(tmpDir: string, out: string, compression: CompressionSettings, recipients: string[] | undefined): Promise<FileSink> {
    if (await access(out).then(() => true, () => false)) throw new HoldfastError("TARGET_EXISTS", `${out} already exists`, { hint: "choose a new file name, or remove the old export first" });
    const dir = await mkdtemp(join(tmpDir, "holdfast-export-"));
    return new FileSink(dir, out, compression, recipients);
  }

  async put(name: string, stream: Readable, onProgress?: (bytes: number) => void): Promise<StreamRecord> {
    const path = join(this.dir, String(this.spooled.length));
    const counter = new HashCounter();
    const stages = onProgress ? [counter, new ProgressTap(onProgress)] : [counter];
    await pipeline([stream, ...stages, createWriteStream(path, { mode: 0o600 })] as unknown as NodeJS.ReadableStream[]);
    this.spooled.push({ name, path, bytes: counter.bytes });
    return { name, bytes: counter.bytes, sha256: counter.sha256 };
  }

  async commit(c: SinkCommit): Promise<string> {
    const pack = tar.pack();
    const partial = `${this.out}.partial`;
    const stages = [compressor(this.compression), ...(this.recipients ? [new AgeEncryptStream(this.recipients)] : [])];
    const writing = pipeline([pack, ...stages, createWriteStream(partial, { mode: 0o600 })] as unknown as NodeJS.ReadableStream[]);
    const feeding = (async () => {
      const mtime = c.started;
      for (const [name, body] of [[c.manifestName, c.manifest], [c.schemaName, c.schema]] as const) {
        await new Promise<void>((resolve, reject) => pack.entry({ name, size: body.length, mode: 0o600, mtime }, body, (err) => (err ? reject(err) : resolve())));
      }
      for (const s of this.spooled) {
        const entry = pack.entry({ name: s.name, size: s.bytes, mode: 0o600, mtime });
        await pipeline(createReadStream(s.path), entry);
      }
      pack.finalize();
    })();
    try {
      await Promise.all([writing, feeding.catch((err: unknown) => { pack.destroy(err as Error); throw err; })]);
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
