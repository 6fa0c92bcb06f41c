import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Repository } from "../../src/repository/repository.js";
import { LocalBackend } from "../../src/storage/local.js";
import type { ByteRange, OperationOptions } from "../../src/storage/backend.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";

/** A real local backend that counts reads of manifests. */
class CountingBackend extends LocalBackend {
  manifestReads = 0;
  override get(key: string, range?: ByteRange, _options?: OperationOptions): Promise<Readable> {
    if (key.endsWith("/manifest.json")) this.manifestReads++;
    return super.get(key, range);
  }
}

let ws: Workspace;
let dir: string;
const ids: string[] = [];

beforeAll(async () => {
  ws = await workspace();
  dir = await mkdtemp(join(tmpdir(), "holdfast-cache-"));
  const db = join(dir, "app.db");
  createDatabase(db, 20);
  for (let i = 0; i < 3; i++) {
    const r = await runCli(["backup", `sqlite:${db}`, "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    ids.push(JSON.parse(r.stdout).id);
  }
}, 60_000);
afterAll(async () => {
  await ws.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe("the catalog reads each committed manifest once per process", () => {
  it("a second catalog (the daemon's refresh) reads no manifest again; a changed manifest is read again and a damaged one reported", async () => {
    const backend = new CountingBackend(ws.repo);
    const repo = await Repository.open(backend);
    expect((await repo.catalog()).backups.map((m) => m.id)).toEqual(ids);
    expect(backend.manifestReads).toBe(3);
    await repo.catalog();
    expect(backend.manifestReads).toBe(3);

    // Damage one manifest: its size and time change, so it is read again, and reported as damaged.
    const path = join(ws.repo, "backups", ids[1]!, "manifest.json");
    const text = await readFile(path, "utf8");
    await writeFile(path, text.replace('"formatVersion": 1', '"formatVersion": 7'));
    const after = await repo.catalog();
    expect(backend.manifestReads).toBe(4);
    expect(after.backups.map((m) => m.id)).toEqual([ids[0], ids[2]]);
    expect(after.damaged).toEqual([{ id: ids[1], key: `backups/${ids[1]}/manifest.json`, error: expect.stringContaining(`manifest of backup ${ids[1]} is damaged: its content does not match its integrity SHA-256`) }]);
  });
});
