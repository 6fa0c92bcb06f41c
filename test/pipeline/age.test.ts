import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { AgeDecryptStream, AgeEncryptStream } from "../../src/pipeline/age.js";
import { HoldfastError } from "../../src/errors.js";

const exec = promisify(execFile);

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Feed the input in uneven pieces so chunk boundaries never line up with writes. */
function unevenly(data: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0, step = 1; at < data.length; at += step, step = (step * 7 + 3) % 90_001 || 1) pieces.push(data.subarray(at, at + step));
  return Readable.from(pieces);
}

async function encrypt(data: Buffer, recipients: string[]): Promise<Buffer> {
  return collect(unevenly(data).pipe(new AgeEncryptStream(recipients)));
}

async function decrypt(sealed: Buffer, identities: string[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(unevenly(sealed), new AgeDecryptStream(identities, "test"), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

describe("age STREAM encryption", async () => {
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);

  it.each([0, 1, 65535, 65536, 65537, 3 * 65536, 3 * 65536 + 17])("round-trips %i bytes and stock `age -d` reads it", async (size) => {
    const data = randomBytes(size);
    const sealed = await encrypt(data, [recipient]);
    expect((await decrypt(sealed, [identity])).equals(data)).toBe(true);
    const dir = await mkdtemp(join(tmpdir(), "holdfast-age-"));
    try {
      await writeFile(join(dir, "id.txt"), identity + "\n", { mode: 0o600 });
      await writeFile(join(dir, "x.age"), sealed);
      // stdout, not -o: age creates no output file for an empty plaintext.
      const { stdout } = await exec("age", ["-d", "-i", join(dir, "id.txt"), join(dir, "x.age")], { encoding: "buffer", maxBuffer: 1 << 24 });
      expect(stdout.equals(data)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reads files written by stock `age -e`", async () => {
    const dir = await mkdtemp(join(tmpdir(), "holdfast-age-"));
    try {
      const data = randomBytes(200_000);
      await writeFile(join(dir, "plain"), data);
      await exec("age", ["-e", "-r", recipient, "-o", join(dir, "x.age"), join(dir, "plain")]);
      expect((await decrypt(await readFile(join(dir, "x.age")), [identity])).equals(data)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a flipped byte, a truncation at a chunk boundary, appended data and the wrong key", async () => {
    const data = randomBytes(3 * 65536 + 100);
    const sealed = await encrypt(data, [recipient]);
    const flipped = Buffer.from(sealed);
    const at = flipped.length - 70_000;
    flipped[at] = flipped[at]! ^ 1;
    await expect(decrypt(flipped, [identity])).rejects.toMatchObject({ code: "CORRUPTED" });
    const headerAndNonce = sealed.length - (3 * (65536 + 16) + 100 + 16);
    const cut = sealed.subarray(0, headerAndNonce + 2 * (65536 + 16));
    await expect(decrypt(cut, [identity])).rejects.toMatchObject({ code: "TRUNCATED" });
    await expect(decrypt(Buffer.concat([sealed, Buffer.from("x")]), [identity])).rejects.toBeInstanceOf(HoldfastError);
    const other = await generateIdentity();
    await expect(decrypt(sealed, [other])).rejects.toMatchObject({ code: "WRONG_KEY" });
    await expect(decrypt(sealed.subarray(0, 30), [identity])).rejects.toMatchObject({ code: "TRUNCATED" });
  });
});
