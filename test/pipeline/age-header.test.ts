import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { Decrypter, generateIdentity, identityToRecipient } from "age-encryption";
import { x25519Header, x25519RecipientKey } from "../../src/pipeline/age-header.js";
import { AgeEncryptStream } from "../../src/pipeline/age.js";

const exec = promisify(execFile);

describe("age X25519 header made with node:crypto", async () => {
  const identities = [await generateIdentity(), await generateIdentity()];
  const recipients = await Promise.all(identities.map((i) => identityToRecipient(i)));

  it("opens with the age-encryption library for each recipient, giving the same file key", async () => {
    const made = x25519Header(recipients)!;
    expect(made.fileKey.length).toBe(16);
    expect(made.header.toString()).toMatch(/^age-encryption\.org\/v1\n(-> X25519 [A-Za-z0-9+/]{43}\n[A-Za-z0-9+/]{43}\n){2}--- [A-Za-z0-9+/]{43}\n$/);
    for (const identity of identities) {
      const d = new Decrypter();
      d.addIdentity(identity);
      expect(Buffer.from(await d.decryptHeader(made.header)).equals(made.fileKey)).toBe(true);
    }
    // A header changed anywhere fails its MAC.
    const tampered = Buffer.from(made.header);
    tampered[30] = tampered[30]! ^ 1;
    const d = new Decrypter();
    d.addIdentity(identities[0]!);
    await expect(d.decryptHeader(tampered)).rejects.toThrow();
  });

  it("files encrypted to two recipients open with stock `age -d` and either identity", async () => {
    const data = randomBytes(200_000);
    const chunks: Buffer[] = [];
    for await (const c of Readable.from([data]).pipe(new AgeEncryptStream(recipients))) chunks.push(c as Buffer);
    const dir = await mkdtemp(join(tmpdir(), "holdfast-age-header-"));
    try {
      await writeFile(join(dir, "x.age"), Buffer.concat(chunks));
      for (const [i, identity] of identities.entries()) {
        await writeFile(join(dir, `id${i}`), identity + "\n", { mode: 0o600 });
        const { stdout } = await exec("age", ["-d", "-i", join(dir, `id${i}`), join(dir, "x.age")], { encoding: "buffer", maxBuffer: 1 << 24 });
        expect(stdout.equals(data)).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reads only well-formed age1… recipients; anything else is left to the library", () => {
    const r = recipients[0]!;
    expect(x25519RecipientKey(r)?.length).toBe(32);
    expect(x25519RecipientKey(r.toUpperCase())?.equals(x25519RecipientKey(r)!)).toBe(true);
    const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === "q" ? "p" : "q") + s.slice(at + 1);
    for (const bad of [flip(r, r.length - 1), flip(r, 10), r.slice(0, -1), "age1", `Age1${r.slice(4)}`, r.replace(/^age1/, "agf1"), "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", `age1${"q".repeat(52)}xyz0`]) {
      expect(x25519RecipientKey(bad), bad).toBeUndefined();
    }
    expect(x25519Header([r, flip(r, 10)])).toBeUndefined();
    expect(x25519Header([])).toBeUndefined();
  });
});
