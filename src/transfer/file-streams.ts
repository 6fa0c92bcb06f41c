import { createReadStream } from "node:fs";
import type { Duplex, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { HoldfastError, fromSystemError } from "../errors.js";
import { AgeDecryptStream, type AgeKeys } from "../pipeline/age.js";
import { decompressor } from "../pipeline/compression.js";
import type { ExportStreams } from "./reader.js";

interface Entry {
  name: string;
  stream: Readable;
}

const AGE_MAGIC = Buffer.from("age-encryption.org/v1\n");
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
/** The file is read 1 MiB at a time: 1 M rows took some 1,000 reads of 64 KiB, each a hop to the thread pool and back. */
const READ_BYTES = 1 << 20;

async function leadingBytes(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(path, { start: 0, end: AGE_MAGIC.length - 1 })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The streams of a portable export file (file-sink.ts): [age] ─▶ zstd ─▶ tar, entries in order.
 * Whether it is encrypted is read from its first bytes.
 */
export async function fileStreams(path: string, keys: AgeKeys | undefined): Promise<ExportStreams> {
  let head: Buffer;
  try {
    head = await leadingBytes(path);
  } catch (err) {
    const e = fromSystemError(err, path);
    throw (err as NodeJS.ErrnoException).code === "ENOENT" ? new HoldfastError("NOT_FOUND", `export file not found: ${path}`) : e;
  }
  const encrypted = head.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC);
  if (!encrypted && !head.subarray(0, 4).equals(ZSTD_MAGIC)) throw new HoldfastError("CORRUPTED", `${path} is not a Holdfast export (neither age nor zstd)`);
  const extract = tar.extract();
  const queue: Entry[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let current: Readable | undefined;
  extract.on("entry", (header, stream, next) => {
    stream.on("end", () => next());
    if (header.type !== "file") {
      stream.resume(); // folders of a tar packed by hand (tar -c … tables)
      return;
    }
    queue.push({ name: header.name, stream });
    poke();
  });
  const stages: Duplex[] = [...(encrypted ? [new AgeDecryptStream(keys?.identities ?? [], path)] : []), decompressor("zstd")];
  const flowing = pipeline([createReadStream(path, { highWaterMark: READ_BYTES }), ...stages, extract] as unknown as NodeJS.ReadableStream[]).then(
    () => {
      ended = true;
      poke();
    },
    (err: unknown) => {
      failure = err instanceof HoldfastError ? err : /unexpected end|truncat|ended in (the )?middle/i.test((err as Error).message ?? "") ? new HoldfastError("TRUNCATED", `${path} is truncated (${(err as Error).message})`) : new HoldfastError("CORRUPTED", `${path} cannot be read: ${(err as Error).message}`);
      current?.destroy(failure);
      ended = true;
      poke();
    },
  );
  return {
    async open(name: string): Promise<AsyncIterable<Buffer>> {
      while (!queue.length && !ended) await new Promise<void>((r) => (wake = r));
      if (failure) throw failure;
      const entry = queue.shift();
      if (!entry) throw new HoldfastError("TRUNCATED", `${path} ends before ${name}`, { hint: "the export is incomplete; copy it again or take a new one" });
      if (entry.name !== name) throw new HoldfastError("CORRUPTED", `${path}: expected ${name}, found ${entry.name}`);
      current = entry.stream;
      return entry.stream as AsyncIterable<Buffer>;
    },
    async close(): Promise<void> {
      if (!ended) {
        current?.resume();
        extract.destroy();
      }
      await flowing.catch(() => undefined);
    },
  };
}
