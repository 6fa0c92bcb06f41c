import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { mkdir, readdir, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { errorLine, runCli, workspace, type RunResult, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { flipByte } from "../support/damage.js";
import { writeLockClaim } from "../support/locks.js";

let ws: Workspace;
let db: string;

beforeAll(async () => {
  ws = await workspace();
  db = join(ws.dir, "app.db");
  createDatabase(db, 3000);
});
afterAll(() => ws.cleanup());

/** One clear line, the documented exit code, and no stack trace. */
function expectCleanFailure(r: RunResult, exitCode: number, message: RegExp | string): void {
  expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: exitCode });
  if (typeof message === "string") expect(errorLine(r)).toContain(message);
  else expect(errorLine(r)).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);
}

async function freshBackup(): Promise<{ id: string; key: string; storedBytes: number }> {
  const r = await runCli(["backup", `sqlite:${db}`, "--json"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  const m = JSON.parse(r.stdout);
  return { id: m.id, key: m.files[0].key, storedBytes: m.files[0].storedBytes };
}

describe("bad input gets one clear line and a distinct exit code", () => {
  it("missing source file → 4", async () => {
    const r = await runCli(["backup", `sqlite:${join(ws.dir, "nope.db")}`], { env: ws.env });
    expectCleanFailure(r, 4, `SQLite database not found: ${join(ws.dir, "nope.db")}`);
  });

  it("a file that is not SQLite → 5", async () => {
    const bogus = join(ws.dir, "notes.txt");
    await writeFile(bogus, "this is not a database, just some notes that are long enough");
    expectCleanFailure(await runCli(["backup", `sqlite:${bogus}`], { env: ws.env }), 5, `${bogus} is not a SQLite database`);
  });

  it("uninitialised repository → 6", async () => {
    const empty = join(ws.dir, "empty-repo");
    await mkdir(empty);
    const r = await runCli(["backup", `sqlite:${db}`, "--repo", empty], { env: ws.env });
    expectCleanFailure(r, 6, `no Holdfast repository at ${empty}`);
    expect(r.stderr).toContain("holdfast repo init");
  });

  it("init on a non-empty folder → 7", async () => {
    expectCleanFailure(await runCli(["repo", "init", ws.repo], { env: ws.env }), 7, `${ws.repo} is not empty`);
  });

  it("wrong passphrase → 8, and the passphrase is never echoed", async () => {
    await freshBackup();
    const wrong = join(ws.dir, "wrong.txt");
    await writeFile(wrong, "not-the-passphrase\n");
    const r = await runCli(["restore", "latest", "--to", join(ws.dir, "x.db")], { env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: wrong } });
    expectCleanFailure(r, 8, "wrong passphrase for");
    expect(r.stderr).not.toContain("not-the-passphrase");
    // Backups need only the public key; reading needs the passphrase.
    const writeOnly = await runCli(["backup", `sqlite:${db}`], { env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: undefined } });
    expect(writeOnly.code, writeOnly.stderr).toBe(0);
    const none = await runCli(["restore", "latest", "--to", join(ws.dir, "z.db")], { env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: undefined } });
    expectCleanFailure(none, 8, "is encrypted and no passphrase was given");
  });

  it("a corrupted byte → 9, naming the backup and the file; restore touches nothing", async () => {
    const { id, key, storedBytes } = await freshBackup();
    const path = join(ws.repo, key);
    await flipByte(path, Math.floor(storedBytes / 2));
    const v = await runCli(["verify", id], { env: ws.env });
    expectCleanFailure(v, 9, new RegExp(`backup ${id}: .*${key.replace(/\./g, "\\.")}.*(SHA-256 check|authentication failed)`));
    const target = join(ws.dir, "corrupt-restore.db");
    const r = await runCli(["restore", id, "--to", target], { env: ws.env });
    expect(r.code).toBe(9);
    await expect(stat(target)).rejects.toThrow();
    // Without the key, verify still proves the stored bytes are wrong.
    const noKey = await runCli(["verify", id], { env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: undefined } });
    expect(noKey.code).toBe(9);
    await rm(join(ws.repo, "backups", id), { recursive: true });
  });

  it("a truncated file → 10", async () => {
    const { id, key, storedBytes } = await freshBackup();
    await truncate(join(ws.repo, key), storedBytes - 1000);
    const v = await runCli(["verify", id], { env: ws.env });
    expectCleanFailure(v, 10, `is truncated: ${storedBytes - 1000} of ${storedBytes} bytes`);
    await rm(join(ws.repo, "backups", id), { recursive: true });
  });

  it("a missing manifest → 11; the backup disappears from list", async () => {
    const { id } = await freshBackup();
    await rm(join(ws.repo, "backups", id, "manifest.json"));
    expectCleanFailure(await runCli(["show", id], { env: ws.env }), 11, `backup ${id} has no manifest`);
    const list = await runCli(["list", "--json"], { env: ws.env });
    const parsed = JSON.parse(list.stdout);
    expect(parsed.backups.map((b: { id: string }) => b.id)).not.toContain(id);
    expect(parsed.incomplete.map((i: { id: string }) => i.id)).toContain(id);
    expect(parsed.incomplete.find((i: { id: string }) => i.id === id)).toMatchObject({ state: "interrupted", source: `sqlite:${db}` });
    await rm(join(ws.repo, "backups", id), { recursive: true });
  });

  it("an unknown backup id → 12", async () => {
    expectCleanFailure(await runCli(["show", "20200101T000000Z"], { env: ws.env }), 12, "no backup 20200101T000000Z");
    expectCleanFailure(await runCli(["restore", "19990101", "--to", join(ws.dir, "y.db")], { env: ws.env }), 12, "no backup 19990101");
  });

  it("a bad config → 3 with the path of the bad key", async () => {
    const unknownKey = join(ws.dir, "unknown.yaml");
    await writeFile(unknownKey, "repo: ./r\ncompression:\n  algoritm: zstd\n");
    expectCleanFailure(await runCli(["--config", unknownKey, "list"], { env: {} }), 3, `${unknownKey}: unknown key compression.algoritm`);
    const badValue = join(ws.dir, "badvalue.yaml");
    await writeFile(badValue, "compression:\n  algorithm: lzma\n");
    expectCleanFailure(await runCli(["--config", badValue, "list"], { env: {} }), 3, /badvalue\.yaml: compression\.algorithm: /);
    const badYaml = join(ws.dir, "bad.yaml");
    await writeFile(badYaml, "repo: [unclosed\n");
    expectCleanFailure(await runCli(["--config", badYaml, "list"], { env: {} }), 3, "not valid YAML");
  });

  it("usage errors → 2", async () => {
    expect((await runCli(["backup"], { env: ws.env })).code).toBe(2);
    expectCleanFailure(await runCli(["backup", `sqlite:${db}`, "--compression", "zstd", "--level", "42"], { env: ws.env }), 2, "compression level 42 is out of range for zstd");
    expectCleanFailure(await runCli(["backup", "mysql://x/y"], { env: ws.env }), 2, 'cannot tell the database kind of "mysql://x/y"');
  });

  it("a second backup of the same source while one runs → 13 (or waits with --lock-wait)", async () => {
    const { createHash } = await import("node:crypto");
    const scope = createHash("sha256").update(`sqlite:${db}`).digest("hex").slice(0, 16);
    // Held by a live process on this host (this test runner itself), with a live lease.
    const lockFile = await writeLockClaim(ws.repo, scope);
    const r = await runCli(["backup", `sqlite:${db}`], { env: ws.env });
    expectCleanFailure(r, 13, `another Holdfast process holds the lock for this source (backup of test, pid ${process.pid}`);
    const waiting = runCli(["backup", `sqlite:${db}`, "--lock-wait", "20s", "--json"], { env: ws.env });
    await new Promise((res) => setTimeout(res, 1500));
    await rm(lockFile);
    const done = await waiting;
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout).id).toBeTruthy();
    expect(await readdir(join(ws.repo, "locks", scope)).catch(() => [])).toEqual([]);
  });

  it("--debug shows the stack for unexpected failures only on request", async () => {
    const r = await runCli(["--debug", "show", "20200101T000000Z"], { env: ws.env });
    expect(r.code).toBe(12);
    expect(r.stderr).toMatch(/at .*:\d+:\d+/);
  });
});
