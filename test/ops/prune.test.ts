import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { writeLockClaim } from "../support/locks.js";
import { sealed } from "../../src/repository/json-object.js";

const DAY = 86_400_000;
let ws: Workspace;
let db: string;
/** Today 00:00 UTC; backups are re-dated to noon of days around it. */
const base = Math.floor(Date.now() / DAY) * DAY;
const NOW = new Date(base + DAY + 12 * 3_600_000).toISOString();
const noon = (days: number) => new Date(base + days * DAY + 12 * 3_600_000);
const idOf = (d: Date) => d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
const ids: string[] = [];
const incompleteOld = idOf(new Date(base - 5 * DAY));
const incompleteLocked = idOf(new Date(base - 3 * DAY + 2 * 3_600_000));

async function redate(id: string, when: Date): Promise<void> {
  const path = join(ws.repo, "backups", id, "manifest.json");
  const m = JSON.parse(await readFile(path, "utf8"));
  m.startedAt = when.toISOString();
  m.finishedAt = new Date(when.getTime() + 1000).toISOString();
  await writeFile(path, JSON.stringify(sealed(m), null, 2));
}

async function listIds(): Promise<string[]> {
  const r = await runCli(["list", "--json"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).backups.map((m: { id: string }) => m.id);
}

beforeAll(async () => {
  ws = await workspace();
  db = join(ws.dir, "app.db");
  createDatabase(db, 200);
  for (let i = 0; i < 5; i++) {
    const r = await runCli(["backup", `sqlite:${db}`, "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    ids.push(JSON.parse(r.stdout).id);
  }
  const days = [-40, -20, -2, -1, 0];
  for (let i = 0; i < 5; i++) await redate(ids[i]!, noon(days[i]!));
  // The oldest is the only verified one: min-verified must keep it.
  const v = await runCli(["verify", ids[0]!], { env: ws.env });
  expect(v.code, v.stderr).toBe(0);
  // Two interrupted backups (data, no manifest); a live backup lock taken before the second.
  for (const id of [incompleteOld, incompleteLocked]) {
    await mkdir(join(ws.repo, "backups", id), { recursive: true });
    await writeFile(join(ws.repo, "backups", id, "database.sqlite.zst.age"), "partial");
  }
  await writeLockClaim(ws.repo, "0123456789abcdef", { startedAt: new Date(base - 3 * DAY), purpose: "backup of sqlite:/elsewhere.db" });
}, 120_000);
afterAll(() => ws.cleanup());

describe("holdfast prune", () => {
  it("records verification results beside the backup", async () => {
    const record = JSON.parse(await readFile(join(ws.repo, "backups", ids[0]!, "verify.json"), "utf8"));
    expect(record).toMatchObject({ formatVersion: 1, backupId: ids[0], ok: true, deep: false });
    // It is not part of the backup, and `holdfast check` knows it is no orphan.
    const check = await runCli(["check", "--json"], { env: ws.env });
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout).orphans).toEqual([]);
  });

  it("--dry-run prints the plan with reasons and deletes nothing", async () => {
    const env = { ...ws.env, HOLDFAST_NOW: NOW };
    const r = await runCli(["prune", "--dry-run", "--keep-daily", "2", "--min-verified", "1"], { env });
    expect(r.code, r.stderr).toBe(0);
    const line = (id: string) => r.stdout.split("\n").find((l) => l.split(/\s+/).includes(id)) ?? "";
    expect(line(ids[4]!)).toMatch(/^\s+keep\s.*\(newest, daily \d{4}-\d\d-\d\d\)/);
    expect(line(ids[3]!)).toMatch(/^\s+keep\s.*\(daily /);
    expect(line(ids[0]!)).toMatch(/^\s+keep\s.*verified\s+\(verified \(keep at least 1\)\)/);
    expect(line(ids[1]!)).toMatch(/^\s+remove\s/);
    expect(line(ids[2]!)).toMatch(/^\s+remove\s/);
    expect(r.stdout).toContain(`incomplete ${incompleteOld}: would remove`);
    expect(r.stdout).toContain(`incomplete ${incompleteLocked}: kept: backup ${incompleteLocked} is being written (backup of sqlite:/elsewhere.db, pid ${process.pid}`);
    expect(r.stdout).toMatch(/3 kept, 2 would remove, 1 incomplete would remove .*dry run: nothing was deleted/);
    expect((await listIds()).sort()).toEqual([...ids].sort());
    await stat(join(ws.repo, "backups", incompleteOld, "database.sqlite.zst.age"));

    const json = await runCli(["prune", "--dry-run", "--keep-daily", "2", "--json"], { env });
    expect(json.code, json.stderr).toBe(0);
    const plan = JSON.parse(json.stdout);
    expect(plan.dryRun).toBe(true);
    expect(plan.removed).toEqual([]);
    expect(plan.plan.remove.sort()).toEqual([ids[1], ids[2]].sort());
  });

  it("takes its policy from holdfast.yaml when no flag is given", async () => {
    const config = join(ws.dir, "holdfast.yaml");
    await writeFile(config, "retention:\n  keep_last: 2\n  keep_daily: 0\n  keep_weekly: 0\n  keep_monthly: 0\n  min_verified: 0\n");
    const r = await runCli(["prune", "--dry-run", "--json", "--config", config], { env: { ...ws.env, HOLDFAST_NOW: NOW } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).plan.keep.sort()).toEqual([ids[3], ids[4]].sort());
  });

  it("refuses bad flags with one line and the usage exit code", async () => {
    const bad = await runCli(["prune", "--keep-daily", "many"], { env: ws.env });
    expect(bad.code).toBe(2);
    expect(errorLine(bad)).toBe('--keep-daily expects a whole number ≥ 0, got "many"');
    const within = await runCli(["prune", "--keep-within", "a month"], { env: ws.env });
    expect(within.code).toBe(2);
    expect(errorLine(within)).toContain("--keep-within expects a duration");
    const now = await runCli(["prune", "--dry-run"], { env: { ...ws.env, HOLDFAST_NOW: "yesterday" } });
    expect(now.code).toBe(2);
    expect(errorLine(now)).toBe('HOLDFAST_NOW is not an ISO 8601 time: "yesterday"');
  });

  it("removes what the plan removes: manifests and files, and old interrupted backups", async () => {
    const r = await runCli(["prune", "--keep-daily", "2", "--min-verified", "1"], { env: { ...ws.env, HOLDFAST_NOW: NOW } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/3 kept, 2 removed, 1 incomplete removed/);
    expect((await listIds()).sort()).toEqual([ids[0], ids[3], ids[4]].sort());
    const left = await readdir(join(ws.repo, "backups"));
    expect(left).not.toContain(ids[1]);
    expect(left).not.toContain(ids[2]);
    expect(left).not.toContain(incompleteOld);
    expect(left).toContain(incompleteLocked);
    // The kept backups still restore-verify.
    const v = await runCli(["verify", "--all"], { env: ws.env });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain("3 backup(s) verified, 0 failed");
  });
});

describe("holdfast prune: WAL clean-up", () => {
  let w: Workspace;
  afterAll(() => w?.cleanup());

  it("removes archived WAL older than the oldest kept base backup's start segment, never history", async () => {
    w = await workspace({ encryption: "none" });
    const source = join(w.dir, "wal-app.db");
    createDatabase(source, 50);
    const taken: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await runCli(["backup", `sqlite:${source}`, "--json"], { env: w.env });
      expect(r.code, r.stderr).toBe(0);
      taken.push(JSON.parse(r.stdout).id);
    }
    // Stand in for physical base backups: the manifest records the first WAL segment it needs.
    for (const [i, start] of ["000000010000000000000003", "000000010000000000000006"].entries()) {
      const path = join(w.repo, "backups", taken[i]!, "manifest.json");
      const m = JSON.parse(await readFile(path, "utf8"));
      m.details.walStart = start;
      await writeFile(path, JSON.stringify(sealed(m), null, 2));
    }
    const tl1 = join(w.repo, "wal", "00000001");
    await mkdir(tl1, { recursive: true });
    for (let seg = 1; seg <= 8; seg++) {
      const name = `00000001000000000000000${seg}`;
      await writeFile(join(tl1, `${name}.zst`), "wal");
      await writeFile(join(tl1, `${name}.json`), "{}");
    }
    await writeFile(join(tl1, "000000010000000000000002.00000028.backup.zst"), "label");
    await mkdir(join(w.repo, "wal", "00000002"), { recursive: true });
    await writeFile(join(w.repo, "wal", "00000002", "00000002.history.zst"), "history");

    const dry = await runCli(["prune", "--dry-run", "--keep-last", "1", "--min-verified", "0"], { env: w.env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("WAL: would remove 11 archived file(s) older than 000000010000000000000006, 7 kept");
    expect(await readdir(tl1)).toHaveLength(17);

    const r = await runCli(["prune", "--keep-last", "1", "--min-verified", "0"], { env: w.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("WAL: removed 11 archived file(s)");
    expect((await readdir(tl1)).sort()).toEqual(
      ["000000010000000000000006", "000000010000000000000007", "000000010000000000000008"].flatMap((n) => [`${n}.json`, `${n}.zst`]).sort(),
    );
    expect(await readdir(join(w.repo, "wal", "00000002"))).toEqual(["00000002.history.zst"]);
  });
});
