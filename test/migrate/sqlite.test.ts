import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { writeLockClaim } from "../support/locks.js";
import { scopeFor } from "../../src/repository/lock.js";
import { migrate, migrateJson, migrationsFolder } from "./files.js";

let ws: Workspace;
beforeAll(async () => {
  ws = await workspace({ encryption: "none" });
});
afterAll(async () => {
  await ws?.cleanup();
});

const CHAIN = {
  "0001_init.sql": "-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\nCREATE TRIGGER users_lower AFTER INSERT ON users BEGIN UPDATE users SET email = lower(new.email) WHERE id = new.id; END;\n-- migrate:down\nDROP TRIGGER users_lower;\nDROP TABLE users;\n",
  "0002_add_teams.up.sql": "CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT);\r\nINSERT INTO teams (name) VALUES ('a;b');   \r\n",
  "0002_add_teams.down.sql": "DROP TABLE teams;\n",
  "0003_user_team.sql": "-- migrate:up\nALTER TABLE users ADD COLUMN team_id INTEGER REFERENCES teams(id);\n-- migrate:down\nALTER TABLE users DROP COLUMN team_id;\n",
};

type Status = { current: number | null; pending: number; migrations: { version: number; state: string }[]; drift: { diff: string }[] };
const tables = (db: string): string[] => {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
  } finally {
    d.close();
  }
};
const history = (db: string): Record<string, unknown>[] => {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare("SELECT * FROM holdfast_schema_history ORDER BY version").all() as Record<string, unknown>[];
  } finally {
    d.close();
  }
};

describe("migrate on SQLite", () => {
  it("installs from nothing up to a version, then the rest, reverts, and records who applied what", async () => {
    const dir = await migrationsFolder(ws.dir, "chain", CHAIN);
    const db = join(ws.dir, "fresh.db");
    expect((await migrateJson<Status>(["status", db, "--dir", dir])).pending).toBe(3);
    const first = await migrateJson<{ applied: { version: number }[]; current: number }>(["up", db, "--dir", dir, "--to", "2"]);
    expect(first.applied.map((a) => a.version)).toEqual([1, 2]);
    expect(tables(db)).toEqual(["holdfast_schema_history", "teams", "users"]);
    const rest = await migrateJson<{ applied: { version: number }[]; current: number }>(["up", db, "--dir", dir]);
    expect(rest.applied.map((a) => a.version)).toEqual([3]);
    expect(rest.current).toBe(3);
    const rows = history(db);
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3]);
    expect(rows[1]).toMatchObject({ name: "add_teams", checksum_algorithm: 1, statements_done: 1, no_transaction: 0 });
    expect(String(rows[1]!.applied_by)).toMatch(/ as - on /);
    expect(rows[1]!.finished_at).toBeTruthy();
    // Nothing left: a second run is a no-op.
    expect((await migrateJson<{ applied: unknown[] }>(["up", db, "--dir", dir])).applied).toEqual([]);
    // Down one step (no rows in the dropped column), then to 1: teams holds a row, so data loss must be allowed.
    expect((await migrateJson<{ current: number }>(["down", db, "--dir", dir])).current).toBe(2);
    const refused = await migrate(["down", db, "--dir", dir, "--to", "1"]);
    expect(refused.code).toBe(2);
    expect(errorLine(refused)).toMatch(/would discard data: drop-table teams discards 1 rows/);
    expect(tables(db)).toContain("teams");
    expect((await migrateJson<{ current: number }>(["down", db, "--dir", dir, "--to", "1", "--allow-data-loss"])).current).toBe(1);
    expect(tables(db)).toEqual(["holdfast_schema_history", "users"]);
  });

  it("refuses duplicate versions, gaps and a down without its up as configuration errors", async () => {
    const db = join(ws.dir, "bad.db");
    const dup = await migrationsFolder(ws.dir, "dup", { "0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 2;" });
    let r = await migrate(["up", db, "--dir", dup]);
    expect(r.code).toBe(3);
    expect(errorLine(r)).toMatch(/^duplicate migration version 1 in .*: 0001_a.sql and 0001_b.sql$/);
    const gap = await migrationsFolder(ws.dir, "gap", { "0001_a.sql": "SELECT 1;", "0003_c.sql": "SELECT 3;" });
    r = await migrate(["status", db, "--dir", gap]);
    expect(r.code).toBe(3);
    expect(errorLine(r)).toMatch(/^gap in the migrations of .*: 0003_c.sql follows version 1$/);
    expect((await migrate(["status", db, "--dir", gap, "--allow-gaps"])).code).toBe(0);
    const orphan = await migrationsFolder(ws.dir, "orphan", { "0001_a.down.sql": "SELECT 1;" });
    expect((await migrate(["status", db, "--dir", orphan])).code).toBe(3);
  });

  it("refuses a changed applied migration with the difference; repair records the reason", async () => {
    const dir = await migrationsFolder(ws.dir, "drift", CHAIN);
    const db = join(ws.dir, "drift.db");
    await migrateJson(["up", db, "--dir", dir]);
    // Line endings and trailing spaces do not count as a change.
    await writeFile(join(dir, "0002_add_teams.up.sql"), "CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO teams (name) VALUES ('a;b');\n\n");
    expect((await migrateJson<Status>(["status", db, "--dir", dir])).drift).toEqual([]);
    await writeFile(join(dir, "0002_add_teams.up.sql"), "CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO teams (name) VALUES ('a;b');\n");
    const status = await migrateJson<Status>(["status", db, "--dir", dir]);
    expect(status.migrations.find((m) => m.version === 2)!.state).toBe("drifted");
    expect(status.drift[0]!.diff).toBe("@@ -1,1 +1,1 @@\n-CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT);\n+CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL);");
    await writeFile(join(dir, "0004_more.sql"), "CREATE TABLE more (id INTEGER);\n");
    const refused = await migrate(["up", db, "--dir", dir]);
    expect(refused.code).toBe(16);
    expect(errorLine(refused)).toMatch(/^migration 2_add_teams changed after it was applied \(0002_add_teams.up.sql/);
    expect(refused.stderr).toContain("+CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL);");
    expect(tables(db)).not.toContain("more");
    const repaired = await migrateJson<{ repaired: { version: number }[] }>(["repair", db, "--dir", dir, "--reason", "NOT NULL was added by hand in production"]);
    expect(repaired.repaired.map((x) => x.version)).toEqual([2]);
    const repairs = JSON.parse(String(history(db)[1]!.repairs)) as { reason: string; oldChecksum: string; newChecksum: string }[];
    expect(repairs).toHaveLength(1);
    expect(repairs[0]!.reason).toBe("NOT NULL was added by hand in production");
    expect(repairs[0]!.oldChecksum).not.toBe(repairs[0]!.newChecksum);
    expect((await migrateJson<{ applied: { version: number }[] }>(["up", db, "--dir", dir])).applied.map((a) => a.version)).toEqual([4]);
  });

  it("lists destructive changes with the rows and bytes they discard and refuses them without --allow-data-loss", async () => {
    const dir = await migrationsFolder(ws.dir, "destructive", {
      "0001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT, keep TEXT);\nWITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO t SELECT i, printf('%0100d', i), 'k' FROM n;\n",
    });
    const db = join(ws.dir, "destructive.db");
    await migrateJson(["up", db, "--dir", dir]);
    await writeFile(join(dir, "0002_drop.sql"), "ALTER TABLE t DROP COLUMN note;\nDELETE FROM t;\n");
    type Plan = { migrations: { destructive: { kind: string; table: string; column?: string; rows: number; bytes: number }[] }[]; dataLoss: unknown[] };
    const plan = await migrateJson<Plan>(["plan", db, "--dir", dir]);
    expect(plan.migrations[0]!.destructive).toEqual([
      expect.objectContaining({ kind: "drop-column", table: "t", column: "note", rows: 500, bytes: 50_000 }),
      expect.objectContaining({ kind: "delete-all", table: "t", rows: 500 }),
    ]);
    expect(plan.migrations[0]!.destructive[1]!.bytes).toBeGreaterThan(50_000);
    const refused = await migrate(["up", db, "--dir", dir]);
    expect(refused.code).toBe(2);
    expect(errorLine(refused)).toBe("the migrations would discard data: drop-column t.note discards 500 rows (50000 bytes), and 1 more change(s)");
    expect(history(db)).toHaveLength(1);
    expect((await migrateJson<{ current: number }>(["up", db, "--dir", dir, "--allow-data-loss"])).current).toBe(2);
  });

  it("takes the database and its migrations folder from holdfast.yaml, and refuses to jump over a required stop", async () => {
    await migrationsFolder(ws.dir, "configured", {
      "0001_a.sql": "CREATE TABLE a (x INTEGER);\n",
      "0002_b.sql": "CREATE TABLE b (x INTEGER);\n",
      "0003_c.sql": "-- holdfast:requires 0002\nCREATE TABLE c (x INTEGER);\n",
    });
    const config = join(ws.dir, "holdfast.yaml");
    await writeFile(config, `databases:\n  app:\n    source: sqlite:${join(ws.dir, "configured.db")}\n    migrations: ./configured\n`);
    const refused = await migrate(["up", "app", "--config", config]);
    expect(refused.code).toBe(2);
    expect(errorLine(refused)).toBe("migration 3_c requires version 2 to be applied on its own first (a required stop); nothing was changed");
    expect(tables(join(ws.dir, "configured.db"))).toEqual([]);
    expect((await migrateJson<{ current: number }>(["up", "app", "--config", config, "--to", "2"])).current).toBe(2);
    expect((await migrateJson<{ current: number }>(["up", "app", "--config", config])).current).toBe(3);
  });

  it("runs a migration holding VACUUM statement by statement with a ledger", async () => {
    const dir = await migrationsFolder(ws.dir, "vacuum", { "0001_v.sql": "CREATE TABLE v (x INTEGER);\nINSERT INTO v VALUES (1);\nVACUUM;\n" });
    const db = join(ws.dir, "vacuum.db");
    const up = await migrateJson<{ applied: { noTransaction: boolean }[] }>(["up", db, "--dir", dir]);
    expect(up.applied).toEqual([expect.objectContaining({ noTransaction: true })]);
    expect(history(db)[0]).toMatchObject({ no_transaction: 1, statements_done: 3, statements_total: 3 });
    expect(history(db)[0]!.finished_at).toBeTruthy();
  });

  it("three concurrent migrate up: every migration applied once, all succeed", async () => {
    const slow = (i: number) => `CREATE TABLE big${i} (x INTEGER);\nWITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500000) INSERT INTO big${i} SELECT i FROM n;\n`;
    const dir = await migrationsFolder(ws.dir, "concurrent", { "0001_a.sql": slow(1), "0002_b.sql": slow(2), "0003_c.sql": slow(3), "0004_d.sql": "CREATE TABLE done (x INTEGER);\n" });
    const db = join(ws.dir, "concurrent.db");
    const runs = await Promise.all([1, 2, 3].map(() => runCli(["migrate", "up", db, "--dir", dir, "--json"])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const applied = runs.flatMap((r) => (JSON.parse(r.stdout) as { applied: { version: number }[] }).applied.map((a) => a.version)).sort();
    expect(applied).toEqual([1, 2, 3, 4]);
    expect(history(db).map((r) => r.version)).toEqual([1, 2, 3, 4]);
  });

  it("waits for a backup of the same database and refuses when it outlasts --lock-wait", async () => {
    const dir = await migrationsFolder(ws.dir, "locked", { "0001_a.sql": "CREATE TABLE a (x INTEGER);\n" });
    const db = join(ws.dir, "locked.db");
    const claim = await writeLockClaim(ws.repo, scopeFor(`sqlite:${db}`), { purpose: `backup of sqlite:${db}` });
    const r = await migrate(["up", db, "--dir", dir], ws.env);
    expect(r.code).toBe(13);
    expect(errorLine(r)).toMatch(/^another Holdfast process holds the lock for this source \(backup of sqlite:/);
    expect(tables(db)).toEqual([]);
    const waiting = migrate(["up", db, "--dir", dir, "--lock-wait", "20s"], ws.env);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await rm(claim);
    expect((await waiting).code).toBe(0);
    expect(tables(db)).toContain("a");
  });
});
