import { mkdtemp, readdir, rm } from "node:fs/promises";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openBackend } from "../../src/storage/open.js";
import { storageConformance } from "./conformance.js";

storageConformance("local folder", async () => {
  const dir = await mkdtemp(join(tmpdir(), "holdfast-local-"));
  return { backend: openBackend(join(dir, "repo")), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe("local folder under writers that empty each other's folders", () => {
  it("a put never fails because another writer's delete removed a parent folder between two levels of its mkdir", async () => {
    const dir = await mkdtemp(join(tmpdir(), "holdfast-local-race-"));
    try {
      const backend = openBackend(join(dir, "repo"));
      // Each delete removes the folders it leaves empty, up to the root: the next put must make them again.
      // Keys at two depths: one writer's delete also removes the level another writer is about to make.
      const worker = async (w: number) => {
        for (let n = 0; n < 150; n++) {
          const key = w % 2 ? `locks/in-use/deep/er/w${w}-${n}` : `locks/in-use/w${w}-${n}`;
          await backend.put(key, Readable.from([Buffer.from("claim")]));
          await backend.delete(key);
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      expect(await readdir(join(dir, "repo")).catch(() => [])).not.toContain("locks");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
