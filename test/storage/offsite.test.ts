import { mkdir, open, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { startS3, type S3Server } from "../support/s3.js";
import { countRows, createDatabase, dumpTable } from "../support/sqlite.js";
import { flipByte } from "../support/damage.js";

let server: S3Server;
let ws: Workspace;
let env: Record<string, string>;
let db: string;

beforeAll(async () => {
  server = await startS3(["offsite"]);
  ws = await workspace();
  db = join(ws.dir, "app.db");
  createDatabase(db, 4000);
  // Local primary, S3 secondary: every new backup is copied there after it completes.
  const config = join(ws.dir, "holdfast.yaml");
  await writeFile(config, `repo: ${ws.repo}\ncopy_to: s3://offsite/copies/app\n`);
  env = { ...ws.env, ...server.env, HOLDFAST_CONFIG: config };
});
afterAll(async () => {
  await server?.stop();
  await ws?.cleanup();
});

async function dataFile(repo: string, id: string): Promise<string> {
  const folder = join(repo, "backups", id);
  const name = (await readdir(folder)).find((n) => n.endsWith(".age"))!;
  return join(folder, name);
}

describe("offsite copies (local primary, S3 secondary)", () => {
  let id: string;

  it("copies each new backup (copy_to) and list shows where it lives", async () => {
    const backup = await runCli(["backup", `sqlite:${db}`, "--json"], { env });
    expect(backup.code, backup.stderr).toBe(0);
    id = (JSON.parse(backup.stdout) as { id: string }).id;
    const list = await runCli(["list"], { env });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/STORED IN/);
    expect(list.stdout).toMatch(new RegExp(`${id}.*primary, s3://offsite/copies/app`));
    // The secondary is a repository in its own right: same keys, same passphrase.
    const there = await runCli(["verify", "--deep", "--repo", "s3://offsite/copies/app"], { env });
    expect(there.code, there.stderr).toBe(0);
    expect(there.stdout).toMatch(/deep check: ok/);
  });

  it("restores from the secondary when a primary file fails its checksum, and says so", async () => {
    const file = await dataFile(ws.repo, id);
    const { size } = await (await open(file, "r")).stat();
    await flipByte(file, Math.floor(size / 2));
    const target = join(ws.dir, "restored.db");
    const r = await runCli(["restore", id, "--to", target], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restored from the offsite copy s3:\/\/offsite\/copies\/app because the primary failed: .*(sha-?256|checksum|corrupt|differ)/i);
    expect(countRows(target, "items")).toBe(4000);
    expect(dumpTable(target, "items")).toEqual(dumpTable(db, "items"));
    // Primary gone altogether (unmounted disk): the copy serves the restore too.
    const gone = await runCli(["restore", id, "--to", join(ws.dir, "restored-2.db"), "--repo", join(ws.dir, "unmounted")], { env });
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stdout).toMatch(/restored from the offsite copy s3:\/\/offsite\/copies\/app because the primary failed: no Holdfast repository at/);
    expect(countRows(join(ws.dir, "restored-2.db"), "items")).toBe(4000);
  });

  it("check --read-data finds the corrupted byte in the primary", async () => {
    // An interrupted backup (data, no manifest) and a stray object inside a complete backup.
    await mkdir(join(ws.repo, "backups", "20200101T000000Z"), { recursive: true });
    await writeFile(join(ws.repo, "backups", "20200101T000000Z", "database.sqlite.zst.age"), "partial");
    await writeFile(join(ws.repo, "backups", id, "stray.bin"), "stray");
    const quick = await runCli(["check", "--json"], { env });
    expect(quick.code, quick.stderr).toBe(0); // sizes match: only reading the data can tell
    const report = JSON.parse(quick.stdout) as { ok: boolean; incomplete: { id: string }[]; orphans: string[]; filesRead: number };
    expect(report).toMatchObject({ ok: true, incomplete: [{ id: "20200101T000000Z", state: "interrupted" }], orphans: [`backups/${id}/stray.bin`], filesRead: 0 });
    const r = await runCli(["check", "--read-data"], { env });
    expect(r.code).toBe(16);
    expect(r.stdout).toMatch(new RegExp(`FAILED ${id}: .*backups/${id}/`));
    expect(errorLine(r)).toMatch(/found 1 problem/);
    const secondary = await runCli(["check", "--read-data", "--subset", "50%", "--repo", "s3://offsite/copies/app"], { env });
    expect(secondary.code, secondary.stderr).toBe(0);
    expect(secondary.stdout).toMatch(/read 1 file\(s\)/);
  });

  it("copy --all to another location verifies there and skips what is already copied", async () => {
    const good = await runCli(["copy", "--all", "--to", "s3://offsite/copies/app"], { env });
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(new RegExp(`${id} already in s3://offsite/copies/app`));
    // From the damaged primary, a fresh copy must refuse to carry the bad bytes over.
    const bad = await runCli(["copy", id, "--to", join(ws.dir, "second")], { env });
    expect(bad.code).toBe(9);
    expect(errorLine(bad)).toMatch(/fails its SHA-256 check/);
    const nothing = await runCli(["list", "--json", "--repo", join(ws.dir, "second")], { env: { ...env, HOLDFAST_CONFIG: "" } });
    expect((JSON.parse(nothing.stdout) as { backups: unknown[] }).backups).toEqual([]);
  });
});
