import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { threadId } from "node:worker_threads";
import { ZstdWorkerCompressStream } from "../../dist/pipeline/zstd-worker.js";

const exec = promisify(execFile);
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** About 2:1 text in pieces of uneven size (the sizes a file read gives are not always 1 MiB). */
function text(bytes: number): Buffer[] {
  const out: Buffer[] = [];
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(left, [1 << 20, 7, 65_537, 300_001][i % 4]!);
    out.push(Buffer.from(randomBytes(Math.ceil(n / 2)).toString("hex").slice(0, n)));
    left -= n;
  }
  return out;
}

async function compress(pieces: Buffer[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(Readable.from(pieces), new ZstdWorkerCompressStream(3), new Writable({ write: (c: Buffer, _e, done) => (parts.push(c), done()) }));
  return Buffer.concat(parts);
}

/** The system zstd reads the frame (checksum included): what `zstd -d` of a stored file does. */
async function zstdDecompress(frame: Buffer): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), "hf-zstdw-"));
  try {
    await writeFile(join(dir, "f.zst"), frame);
    await exec("zstd", ["-d", "-q", "--check", join(dir, "f.zst"), "-o", join(dir, "f")]);
    const { stdout } = await exec("zstd", ["-lv", join(dir, "f.zst")]);
    expect(stdout).toMatch(/Check: XXH64/);
    return await readFile(join(dir, "f"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("ZstdWorkerCompressStream", () => {
  it("writes one standard zstd frame with its checksum, for several streams at once, off this thread", async () => {
    const inputs = [text(6 << 20), text(3 << 20), text(0), text(9), text(5 << 20), text(1 << 20)];
    const frames = await Promise.all(inputs.map(compress));
    for (let i = 0; i < inputs.length; i++) {
      const original = Buffer.concat(inputs[i]!);
      const back = await zstdDecompress(frames[i]!);
      expect(sha(back)).toBe(sha(original));
      if (original.length > 1 << 20) expect(frames[i]!.length).toBeLessThan(original.length * 0.7);
    }
    expect(threadId).toBe(0);
  }, 120_000);

  it("a stream destroyed halfway frees its place: later streams still compress", async () => {
    const broken = new ZstdWorkerCompressStream(3);
    const failed = new Promise<Error>((res) => broken.once("error", res));
    broken.write(Buffer.alloc(1 << 20, 1));
    await new Promise((res) => setTimeout(res, 50));
    broken.destroy(new Error("consumer went away"));
    expect((await failed).message).toBe("consumer went away");
    const pieces = text(2 << 20);
    expect(sha(await zstdDecompress(await compress(pieces)))).toBe(sha(Buffer.concat(pieces)));
  }, 60_000);

  it("does not keep a process alive once its streams are done", async () => {
    const script = `import { ZstdWorkerCompressStream } from ${JSON.stringify(new URL("../../dist/pipeline/zstd-worker.js", import.meta.url).href)};
const s = new ZstdWorkerCompressStream(3); let n = 0; s.on("data", (c) => { n += c.length; }); s.on("end", () => console.log("compressed", n));
s.end(Buffer.alloc(1 << 20, 7));`;
    const started = Date.now();
    const { stdout } = await exec(process.execPath, ["--input-type=module", "-e", script], { timeout: 8_000 });
    expect(stdout).toMatch(/^compressed \d+$/m);
    // The idle timer stops its threads after 10 s; an unref'd thread lets the process end before.
    expect(Date.now() - started).toBeLessThan(8_000);
  }, 20_000);
});
