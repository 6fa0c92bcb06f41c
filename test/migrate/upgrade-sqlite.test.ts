import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import Database from "better-sqlite3";
import { runCli, startCli, workspace, errorLine, type Workspace } from "../support/cli.js";
import { createDatabase, dumpTable } from "../support/sqlite.js";
import { expectStep, runUpgrade, type Report } from "./upgrade-support.js";

/**
 * `holdfast upgrade` on real SQLite files: required stops refused before anything changes, the
 * untouched-rows rule (and --touches), foreign keys, Ctrl-C during the runner, --rollback none.
 * "Equal to before" is measured here with better-sqlite3: sqlite_master and every row.
 */
let ws: Workspace;
beforeAll(async () => {
  ws = await workspace();
});
afterAll(async () => {
  await ws?.cleanup();
});

/** A database that has had one (no-op) upgrade, so its holdfast_upgrades table is part of "before". */
async function app(name: string): Promise<string> {
  const path = join(ws.dir, `${name}.db`);
  createDatabase(path, 200);
  const db = new Database(path);
  db.pragma("user_version = 3");
  db.close();
  const warmUp = await runUpgrade(ws, [path, "--run", "true"]);
  expect(warmUp.result.code, warmUp.result.stderr).toBe(0);
  return path;
}

function state(path: string): { schema: unknown[]; version: number; rows: Record<string, unknown[]> } {
  const db = new Database(path, { readonly: true });
  try {
    const schema = db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").all();
    const version = Number(db.pragma("user_version", { simple: true }));
    const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'holdfast_upgrades'").pluck().all() as string[];
    db.close();
    return { schema, version, rows: Object.fromEntries(names.map((n) => [n, dumpTable(path, n)])) };
  } finally {
    if (db.open) db.close();
  }
}

const sql = (statements: string) => `sqlite3 "$HOLDFAST_DATABASE" "${statements}"`;

function expectRolledBack(report: Report): void {
  expect(report.finalState).toBe("rolled-back");
  expect(report.rollback).toMatchObject({ taken: true, proven: true, problems: [] });
  expectStep(report, "rollback", true);
}

describe("holdfast upgrade (SQLite)", () => {
  it("fresh install: an empty database is migrated; a failed first install leaves it empty", async () => {
    const path = join(ws.dir, "fresh.db");
    new Database(path).exec("VACUUM");
    const failed = await runUpgrade(ws, [path, "--run", `${sql("CREATE TABLE accounts (id INTEGER PRIMARY KEY); PRAGMA user_version = 1")} && exit 1`]);
    expect(failed.result.code, failed.result.stderr).toBe(31);
    expectRolledBack(failed.report);
    const empty = state(path);
    expect(empty.schema.map((o) => (o as { name: string }).name)).toEqual(["sqlite_autoindex_holdfast_upgrades_1", "holdfast_upgrades"]);
    expect([empty.version, empty.rows]).toEqual([0, {}]);

    const ok = await runUpgrade(ws, [path, "--run", sql("CREATE TABLE accounts (id INTEGER PRIMARY KEY); PRAGMA user_version = 1")]);
    expect(ok.result.code, ok.result.stderr).toBe(0);
    expect([ok.report.versionBefore, ok.report.versionAfter]).toEqual([undefined, "1"]);
    expect(state(path).rows).toEqual({ accounts: [] });
  }, 30_000);

  it("refuses to skip a required stop before touching anything; --to up to the stop passes", async () => {
    const path = await app("stops");
    const before = state(path);
    const backups = (await runCli(["list", "--json"], { env: ws.env })).stdout;
    const refused = await runCli(["upgrade", path, "--run", sql("PRAGMA user_version = 7"), "--required-stop", "5"], { env: ws.env });
    expect(refused.code, refused.stderr).toBe(33);
    expect(errorLine(refused)).toBe("the database is at version 3 and 5 is a required stop: this upgrade would skip it");
    expect(state(path)).toEqual(before);
    expect((await runCli(["list", "--json"], { env: ws.env })).stdout).toBe(backups);

    const { result, report } = await runUpgrade(ws, [path, "--run", sql("ALTER TABLE items ADD COLUMN color TEXT; PRAGMA user_version = 5"), "--required-stop", "5", "--to", "5"]);
    expect(result.code, result.stderr).toBe(0);
    expect([report.versionBefore, report.versionAfter]).toEqual(["3", "5"]);
  }, 30_000);

  it("rows of a table whose columns did not change must stay; --touches declares a backfill", async () => {
    const path = await app("rows");
    const before = state(path);
    const backfill = sql("ALTER TABLE items ADD COLUMN color TEXT; UPDATE items SET color = 'red'; UPDATE tags SET tag = upper(tag)");
    const undeclared = await runUpgrade(ws, [path, "--run", backfill]);
    expect(undeclared.result.code, undeclared.result.stderr).toBe(31);
    expect(undeclared.report.checks.find((c) => c.kind === "unchanged-rows")).toMatchObject({ ok: false, detail: "tags content changed (same 20 rows)" });
    expectRolledBack(undeclared.report);
    expect(state(path)).toEqual(before);

    const declared = await runUpgrade(ws, [path, "--run", backfill, "--touches", "tags"]);
    expect(declared.result.code, declared.result.stderr).toBe(0);
    expect(declared.report.checks.find((c) => c.kind === "unchanged-rows")?.detail).toBe("0 table(s) unchanged; touched: holdfast_upgrades, items, tags");
  }, 30_000);

  it("a row without its parent fails the foreign-key check and rolls back", async () => {
    const path = await app("fk");
    const before = state(path);
    const { result, report } = await runUpgrade(ws, [path, "--run", sql("ALTER TABLE tags ADD COLUMN note TEXT; INSERT INTO tags (item_id, tag) VALUES (99999, 'orphan')")]);
    expect(result.code, result.stderr).toBe(31);
    expect(report.checks.find((c) => c.kind === "foreign-keys")).toMatchObject({ ok: false, detail: expect.stringMatching(/^foreign key violation in tags row 21 \(parent items\)/) });
    expectRolledBack(report);
    expect(report.rollback.safetyCopy).toMatch(/\.holdfast-safety/);
    expect(state(path)).toEqual(before);
  }, 30_000);

  it("Ctrl-C during the runner stops it and the rollback still happens", async () => {
    const path = await app("interrupt");
    const before = state(path);
    const child = startCli(["upgrade", path, "--run", `${sql("DELETE FROM tags; ALTER TABLE items ADD COLUMN x INT")} && echo migrated && sleep 60`, "--json"], { env: ws.env });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const migrated = () => state(path).schema.some((o) => String((o as { sql: string | null }).sql).includes(" x INT"));
    for (let i = 0; i < 100 && !migrated(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(migrated()).toBe(true);
    const startedAt = Date.now();
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.once("close", r));
    expect(code, stderr).toBe(31);
    expect(Date.now() - startedAt).toBeLessThan(15_000);
    const report = JSON.parse(stdout) as Report;
    expect(report.failure).toEqual({ step: "migrate", message: expect.stringMatching(/: interrupted$/) });
    expect(report.runnerOutput).toContain("migrated");
    expectRolledBack(report);
    expect(state(path)).toEqual(before);
  }, 30_000);

  it("--rollback none leaves the failed state and exits 29 naming the backup", async () => {
    const path = await app("none");
    const before = state(path);
    const { result, report } = await runUpgrade(ws, [path, "--run", `${sql("DELETE FROM tags")} && exit 4`, "--rollback", "none"]);
    expect(result.code, result.stderr).toBe(32);
    expect(report).toMatchObject({ finalState: "failed", rollback: { mode: "none", taken: false } });
    expect(result.stderr).toContain(`holdfast restore ${report.backupId} --in-place`);
    expect(state(path)).not.toEqual(before);
    const restored = await runCli(["restore", report.backupId, "--in-place"], { env: ws.env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(state(path)).toEqual(before);
  }, 30_000);
});
