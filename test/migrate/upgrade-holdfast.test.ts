import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { errorLine, workspace, type Workspace } from "../support/cli.js";
import { createDatabase, dumpTable } from "../support/sqlite.js";
import { seedApp } from "../support/pg-data.js";
import { expectStep, pgState, runUpgrade } from "./upgrade-support.js";
import { runCli } from "../support/cli.js";

/**
 * `holdfast upgrade --migrations <dir>`: Holdfast's own migrator as the upgrade's runner, on real
 * SQLite files and a real PostgreSQL cluster. "Equal to before" is measured without Holdfast:
 * better-sqlite3 (sqlite_master and every row) and pg_dump + md5.
 */
let ws: Workspace;
let cluster: PgCluster;
beforeAll(async () => {
  [ws, cluster] = await Promise.all([workspace(), startCluster()]);
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

/** A folder of migrations: [name, up, down?] numbered from 1. */
async function folder(name: string, steps: [string, string, string?][]): Promise<string> {
  const dir = join(ws.dir, name);
  await mkdir(dir);
  for (const [i, [n, up, down]] of steps.entries()) {
    const v = String(i + 1).padStart(4, "0");
    await writeFile(join(dir, `${v}_${n}.up.sql`), up);
    if (down !== undefined) await writeFile(join(dir, `${v}_${n}.down.sql`), down);
  }
  return dir;
}

const FIVE: [string, string, string][] = [
  ["teams", "CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL);", "DROP TABLE teams;"],
  ["team_rows", "INSERT INTO teams (id, name) VALUES (1, 'core'), (2, 'ops');", "DELETE FROM teams;"],
  ["members", "CREATE TABLE members (id INTEGER PRIMARY KEY, team_id INTEGER REFERENCES teams (id));", "DROP TABLE members;"],
  ["member_rows", "INSERT INTO members (id, team_id) VALUES (1, 1);", "DELETE FROM members;"],
  ["team_index", "CREATE INDEX teams_name ON teams (name);", "DROP INDEX teams_name;"],
];

function sqliteState(path: string): { schema: unknown[]; rows: Record<string, unknown[]> } {
  const db = new Database(path, { readonly: true });
  const schema = db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").all();
  const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'holdfast_upgrades'").pluck().all() as string[];
  db.close();
  return { schema, rows: Object.fromEntries(names.map((n) => [n, dumpTable(path, n)])) };
}

function historyOf(path: string): { version: number; backup_id: string | null }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("SELECT version, backup_id FROM holdfast_schema_history ORDER BY version").all() as { version: number; backup_id: string | null }[];
  } finally {
    db.close();
  }
}

async function sqliteApp(name: string): Promise<string> {
  const path = join(ws.dir, `${name}.db`);
  createDatabase(path, 100);
  return path;
}

describe("holdfast upgrade --migrations (SQLite)", () => {
  it("N → N+1, then a skipped version; each history row holds its upgrade's verified backup", async () => {
    const path = await sqliteApp("steps");
    const dir = await folder("steps", FIVE);
    const first = await runUpgrade(ws, [path, "--migrations", dir, "--to", "1"]);
    expect(first.result.code, first.result.stderr).toBe(0);
    expect(first.report).toMatchObject({ finalState: "upgraded", versionAfter: "1" });
    expect(first.report.runner).toContain(dir);
    const next = await runUpgrade(ws, [path, "--migrations", dir, "--to", "2", "--touches", "teams"]); // 0002 fills teams
    expect(next.result.code, next.result.stderr).toBe(0);
    expect(next.report).toMatchObject({ versionBefore: "1", versionAfter: "2" });
    const skip = await runUpgrade(ws, [path, "--migrations", dir, "--to", "4", "--touches", "members"]);
    expect(skip.result.code, skip.result.stderr).toBe(0);
    expect(skip.report).toMatchObject({ versionBefore: "2", versionAfter: "4" });
    expect(historyOf(path)).toEqual([
      { version: 1, backup_id: first.report.backupId },
      { version: 2, backup_id: next.report.backupId },
      { version: 3, backup_id: skip.report.backupId },
      { version: 4, backup_id: skip.report.backupId },
    ]);
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT count(*) FROM members").pluck().get()).toBe(1);
    db.close();
  });

  it("the third of five fails: restored, equal to before, and the report says so", async () => {
    const path = await sqliteApp("third");
    const steps = FIVE.map((s) => [...s] as [string, string, string]);
    steps[2]![1] = "CREATE TABLE members (id INTEGER PRIMARY KEY); INSERT INTO no_such_table VALUES (1);";
    const dir = await folder("third", steps);
    expect((await runUpgrade(ws, [path, "--migrations", await folder("third-none", [])])).result.code).toBe(0); // the upgrade log and history exist before
    const before = sqliteState(path);
    const { result, report } = await runUpgrade(ws, [path, "--migrations", dir]);
    expect(result.code, result.stderr).toBe(31);
    expect(report.failure?.step).toBe("migrate");
    expect(report.failure?.message).toMatch(/0*3_members/);
    expect(report.rollback).toMatchObject({ mode: "restore", taken: true, by: "restore", proven: true, problems: [] });
    expectStep(report, "rollback", true);
    expect(sqliteState(path)).toEqual(before);
  });

  it("a required stop is refused before the backup (exit 33)", async () => {
    const path = await sqliteApp("stop");
    const steps = FIVE.map((s) => [...s] as [string, string, string]);
    steps[3]![1] = `-- holdfast:requires 3\n${steps[3]![1]}`;
    const dir = await folder("stop", steps);
    expect((await runUpgrade(ws, [path, "--migrations", dir, "--to", "2"])).result.code).toBe(0);
    const before = sqliteState(path);
    const listed = await runCli(["list", "--json"], { env: ws.env });
    const refused = await runCli(["upgrade", path, "--migrations", dir], { env: ws.env });
    expect(refused.code, refused.stderr).toBe(33);
    expect(errorLine(refused)).toMatch(/3 is a required stop/);
    expect(sqliteState(path)).toEqual(before);
    expect((await runCli(["list", "--json"], { env: ws.env })).stdout).toBe(listed.stdout);
    const toStop = await runUpgrade(ws, [path, "--migrations", dir, "--to", "3"]);
    expect(toStop.result.code, toStop.result.stderr).toBe(0);
  });

  it("--rollback down: a failing check is undone by the down migrations, proven equal", async () => {
    const path = await sqliteApp("down");
    const dir = await folder("down", FIVE);
    await runUpgrade(ws, [path, "--migrations", dir, "--to", "1"]);
    const before = sqliteState(path);
    const checks = join(ws.dir, "down-checks.sql");
    await writeFile(checks, "-- every team has a member\nSELECT count(*) = 0 FROM teams WHERE id NOT IN (SELECT team_id FROM members);\n");
    const { result, report } = await runUpgrade(ws, [path, "--migrations", dir, "--checks", checks, "--rollback", "down"]);
    expect(result.code, result.stderr).toBe(31);
    expect(report.failure?.step).toBe("checks");
    expect(report.rollback.downError).toBeUndefined();
    expect(report.rollback).toMatchObject({ mode: "down", taken: true, by: "down", proven: true });
    expect(sqliteState(path)).toEqual(before);
    expect(historyOf(path).map((r) => r.version)).toEqual([1]);
  });
});

describe("holdfast upgrade --migrations (PostgreSQL)", () => {
  it("the third of five fails: restored, pg_dump and md5 equal to before; --rollback down reverts a failing chain", async () => {
    await seedApp(cluster, "app", 200);
    const steps = FIVE.map((s) => [...s] as [string, string, string]);
    steps[2]![1] = "CREATE TABLE members (id integer PRIMARY KEY); SELECT 1 / 0;";
    const dir = await folder("pg-third", steps);
    expect((await runUpgrade(ws, [cluster.url("app"), "--migrations", await folder("pg-none", [])])).result.code).toBe(0); // the upgrade log and history exist before
    const before = await pgState(cluster, "app");
    const failed = await runUpgrade(ws, [cluster.url("app"), "--migrations", dir]);
    expect(failed.result.code, failed.result.stderr).toBe(31);
    expect(failed.report.failure?.message).toMatch(/division by zero/);
    expect(failed.report.rollback).toMatchObject({ by: "restore", proven: true, problems: [] });
    expect(await pgState(cluster, "app")).toEqual(before);

    const down = await runUpgrade(ws, [cluster.url("app"), "--migrations", dir, "--rollback", "down"]);
    expect(down.result.code, down.result.stderr).toBe(31);
    expect(down.report.rollback).toMatchObject({ mode: "down", by: "down", proven: true });
    expect(await pgState(cluster, "app")).toEqual(before);

    const good = await folder("pg-good", FIVE);
    const ok = await runUpgrade(ws, [cluster.url("app"), "--migrations", good]);
    expect(ok.result.code, ok.result.stderr).toBe(0);
    const client = new pg.Client({ connectionString: cluster.url("app") });
    await client.connect();
    const rows = (await client.query("SELECT version, backup_id FROM holdfast_schema_history ORDER BY version")).rows;
    await client.end();
    expect(rows.map((r: { version: string }) => Number(r.version))).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(rows.map((r: { backup_id: string }) => r.backup_id))).toEqual(new Set([ok.report.backupId]));
  });
});
