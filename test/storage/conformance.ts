import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HoldfastError } from "../../src/errors.js";
import type { StorageBackend } from "../../src/storage/backend.js";

/** A fresh, empty backend per test, and how to throw it away. */
export interface BackendUnderTest {
  backend: StorageBackend;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function text(backend: StorageBackend, key: string): Promise<string> {
  return (await readAll(await backend.get(key))).toString();
}

function body(data: string | Buffer): Readable {
  return Readable.from([Buffer.from(data)]);
}

async function keys(backend: StorageBackend, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of backend.list(prefix)) out.push(o.key);
  return out;
}

/** Emits `total` deterministic bytes in 1 MiB chunks, then fails instead of ending when asked to. */
function generated(total: number, options: { failAfter?: number; seed?: string } = {}): Readable {
  let sent = 0;
  // Cheap deterministic, incompressible bytes: AES-CTR keystream of a seed.
  const keystream = createCipheriv("aes-128-ctr", createHash("sha256").update(options.seed ?? "x").digest().subarray(0, 16), Buffer.alloc(16));
  const zeros = Buffer.alloc(MiB);
  return new Readable({
    highWaterMark: MiB,
    read() {
      if (options.failAfter !== undefined && sent >= options.failAfter) {
        this.destroy(new Error("source failed midway"));
        return;
      }
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(MiB, total - sent);
      const block = keystream.update(zeros.subarray(0, n));
      sent += n;
      this.push(block);
    },
  });
}

async function sha256Of(stream: Readable): Promise<{ sha: string; bytes: number }> {
  const h = createHash("sha256");
  let bytes = 0;
  for await (const c of stream) {
    h.update(c as Buffer);
    bytes += (c as Buffer).length;
  }
  return { sha: h.digest("hex"), bytes };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err, `expected a ${code} error`).toBeInstanceOf(HoldfastError);
  expect((err as HoldfastError).code).toBe(code);
}

/**
 * The one suite every StorageBackend passes, unchanged (restic's backend/test/suite.go).
 * The contract is the comment on StorageBackend in src/storage/backend.ts.
 */
export function storageConformance(name: string, open: () => Promise<BackendUnderTest>): void {
  describe(`storage conformance: ${name}`, () => {
    let under: BackendUnderTest;
    let b: StorageBackend;
    beforeEach(async () => {
      under = await open();
      b = under.backend;
    });
    afterEach(async () => under.cleanup());

    it("round-trips bytes and reports the stored size", async () => {
      const data = randomBytes(100_000);
      const stored = await b.put("backups/one/data.bin", body(data));
      expect(stored).toMatchObject({ key: "backups/one/data.bin", size: data.length });
      expect((await readAll(await b.get("backups/one/data.bin"))).equals(data)).toBe(true);
      await b.put("empty", body(Buffer.alloc(0)));
      expect((await b.stat("empty"))?.size).toBe(0);
      await b.put("dir/a b+c=d.txt", body("odd name"));
      expect(await text(b, "dir/a b+c=d.txt")).toBe("odd name");
    });

    it("replaces an object written again under the same key", async () => {
      await b.put("k", body("first"));
      await b.put("k", body("second, longer"));
      expect(await text(b, "k")).toBe("second, longer");
      expect((await b.stat("k"))?.size).toBe(14);
    });

    it("serves byte ranges", async () => {
      await b.put("r", body("0123456789"));
      expect((await readAll(await b.get("r", { start: 2, end: 5 }))).toString()).toBe("2345");
      expect((await readAll(await b.get("r", { start: 7 }))).toString()).toBe("789");
      expect((await readAll(await b.get("r", { start: 0, end: 0 }))).toString()).toBe("0");
    });

    it("stats present and absent keys", async () => {
      const before = Date.now();
      await b.put("s/x", body("hello"));
      const s = await b.stat("s/x");
      expect(s?.size).toBe(5);
      expect(s!.modifiedAt.getTime()).toBeGreaterThan(before - 120_000);
      expect(await b.stat("s/missing")).toBeUndefined();
      expect(await b.stat("s")).toBeUndefined(); // a "folder" is not an object
    });

    it("rejects a missing key with NOT_FOUND", async () => {
      await expectCode(b.get("nothing/here"), "NOT_FOUND");
      await expectCode(b.get("nothing/here", { start: 0, end: 3 }), "NOT_FOUND");
    });

    it("lists every object under a prefix, completely and in key order (past one page of 1000)", async () => {
      const total = 1050;
      const names = Array.from({ length: total }, (_, i) => `many/${String(i).padStart(5, "0")}`);
      for (let i = 0; i < names.length; i += 25) await Promise.all(names.slice(i, i + 25).map((k) => b.put(k, body(k))));
      await b.put("manyother/z", body("z"));
      await b.put("a-first", body("a"));
      const listed = await keys(b, "many/");
      expect(listed.length).toBe(total);
      expect(listed).toEqual(names);
      expect(await keys(b, "many/0010")).toEqual(names.slice(100, 110));
      expect(await keys(b, "nope/")).toEqual([]);
      const all = await keys(b, "");
      expect(all.length).toBe(total + 2);
      expect(all[0]).toBe("a-first");
      expect([...all].sort()).toEqual(all);
      for await (const o of b.list("many/0000")) expect(o.size).toBe(10);
    }, 180_000);

    it("deletes idempotently", async () => {
      await b.put("d/x", body("x"));
      await b.delete("d/x");
      await b.delete("d/x");
      await b.delete("d/never-existed");
      expect(await b.stat("d/x")).toBeUndefined();
      expect(await keys(b, "d/")).toEqual([]);
    });

    it("leaves nothing visible when the body fails midway, and keeps the earlier object", async () => {
      await b.put("atomic/keep", body("earlier"));
      await expect(b.put("atomic/keep", generated(24 * MiB, { failAfter: 20 * MiB }))).rejects.toThrow();
      await expect(b.put("atomic/new", generated(24 * MiB, { failAfter: 20 * MiB }))).rejects.toThrow();
      await expect(b.put("atomic/small", generated(MiB, { failAfter: 0 }))).rejects.toThrow();
      expect(await text(b, "atomic/keep")).toBe("earlier");
      expect(await b.stat("atomic/new")).toBeUndefined();
      expect(await b.stat("atomic/small")).toBeUndefined();
      expect(await keys(b, "atomic/")).toEqual(["atomic/keep"]);
    });

    it("leaves nothing visible when the body is destroyed without an error", async () => {
      const src = generated(30 * MiB);
      let seen = 0;
      src.on("data", (c: Buffer) => {
        seen += c.length;
        if (seen >= 10 * MiB) src.destroy();
      });
      await expect(b.put("cut/short", src)).rejects.toThrow();
      expect(await b.stat("cut/short")).toBeUndefined();
    });

    it("cancels a put through its AbortSignal, leaving nothing visible", async () => {
      await b.put("abort/keep", body("earlier"));
      const controller = new AbortController();
      const src = generated(40 * MiB);
      let seen = 0;
      src.on("data", (c: Buffer) => {
        seen += c.length;
        if (seen >= 12 * MiB && !controller.signal.aborted) controller.abort();
      });
      await expectCode(b.put("abort/keep", src, { signal: controller.signal }), "INTERRUPTED");
      expect(await text(b, "abort/keep")).toBe("earlier");
      expect(await keys(b, "abort/")).toEqual(["abort/keep"]);
    });

    it("streams a large object in both directions with bounded memory", async () => {
      const size = 96 * MiB;
      const expected = await sha256Of(generated(size, { seed: "large" }));
      global.gc?.();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      try {
        const stored = await b.put("large/object", generated(size, { seed: "large" }));
        expect(stored.size).toBe(size);
        const back = await sha256Of(await b.get("large/object"));
        expect(back).toEqual(expected);
      } finally {
        clearInterval(sampler);
      }
      // Whole-object buffering would need ≥ 96 MiB more; multipart holds ~ (queue + 1) × part.
      expect(peak - baseline).toBeLessThan(80 * MiB);
    }, 180_000);

    it("accepts concurrent writers to different keys", async () => {
      const blobs = Array.from({ length: 8 }, (_, i) => randomBytes(256 * 1024 + i));
      await Promise.all(blobs.map((d, i) => b.put(`conc/${i}`, body(d))));
      for (let i = 0; i < blobs.length; i++) expect((await readAll(await b.get(`conc/${i}`))).equals(blobs[i]!)).toBe(true);
      expect((await keys(b, "conc/")).length).toBe(8);
    });

    it("refuses keys that would leave the repository", async () => {
      for (const bad of ["", "/abs", "../up", "a/../b", "a//b", "a/./b"]) {
        await expect(b.put(bad, body("x"))).rejects.toThrow(/invalid storage key/);
        await expect(b.get(bad)).rejects.toThrow(/invalid storage key/);
      }
    });
  });
}
