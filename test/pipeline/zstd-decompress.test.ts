import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { ZstdDecompressStream } from "../../src/pipeline/zstd-decompress.js";

const exec = promisify(execFile);

/** 48 MiB that compress to a few hundred KiB: zero pages and repeated rows, like a data directory. */
function compressible(): Buffer {
  const row = Buffer.from(`${randomBytes(24).toString("hex")},some repeated row text\n`);
  const parts: Buffer[] = [];
  for (let i = 0; i < 48; i++) parts.push(i % 2 ? Buffer.alloc(1 << 20) : Buffer.concat(Array(Math.ceil((1 << 20) / row.length)).fill(row)).subarray(0, 1 << 20));
  return Buffer.concat(parts);
}

/** The system zstd compresses (a standard frame, as stored files are), in one 1 MiB-or-less chunk per read. */
async function zstdFrame(data: Buffer): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), "hf-zstd-"));
  try {
    await writeFile(join(dir, "in"), data);
    await exec("zstd", ["-3", "-q", "-f", join(dir, "in"), "-o", join(dir, "in.zst")]);
    return await readFile(join(dir, "in.zst"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function chunks(data: Buffer, size: number): Readable {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, at + size));
  return Readable.from(out);
}

describe("ZstdDecompressStream", () => {
  it("gives back the exact bytes, and holds at most a few blocks for a slow reader", async () => {
    const data = compressible();
    const frame = await zstdFrame(data);
    expect(frame.length).toBeLessThan(4 << 20);
    const stage = new ZstdDecompressStream();
    const received: Buffer[] = [];
    let mostBuffered = 0;
    const slow = new Writable({
      highWaterMark: 1 << 16,
      write(chunk: Buffer, _e, done) {
        received.push(chunk);
        mostBuffered = Math.max(mostBuffered, stage.readableLength);
        setImmediate(done);
      },
    });
    await pipeline(chunks(frame, 1 << 20), stage, slow);
    expect(Buffer.concat(received).equals(data)).toBe(true);
    // zstd-napi's own stream pushed a whole input chunk's output (tens of MiB here) at once.
    expect(mostBuffered).toBeLessThanOrEqual(512 << 10);
  });

  it("a frame cut short fails; bytes that are not zstd fail", async () => {
    const frame = await zstdFrame(randomBytes(300_000));
    await expect(pipeline(chunks(frame.subarray(0, frame.length - 100), 4096), new ZstdDecompressStream(), new Writable({ write: (_c, _e, d) => d() }))).rejects.toThrow(/middle of a compressed frame/);
    await expect(pipeline(Readable.from([randomBytes(5000)]), new ZstdDecompressStream(), new Writable({ write: (_c, _e, d) => d() }))).rejects.toThrow();
  });
});
