import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { errorLine, runCli, startCli, workspace, type Workspace } from "../support/cli.js";
import { waitFor } from "../support/http.js";
import { migrate, migrateJson, migrationsFolder } from "./files.js";

let cluster: PgCluster;
let ws: Workspace;
beforeAll(async () => {
  cluster = await startCluster();
  ws = await workspace({ encryption: "none" });
});
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

async function database(name: string, setup = ""): Promise<string> {
  await cluster.query(`CREATE DATABASE ${name}`);
  if (setup) await cluster.query(setup, name);
  return cluster.url(name);
}
const history = (db: string) => cluster.query<{ version: string; statements_done: number; finished_at: Date | null; applied_by: string; checksum_algorithm: number }>("SELECT * FROM public.holdfast_schema_history ORDER BY version", db);
type Up = { applied: { version: number; resumedAt?: number; noTransaction: boolean }[]; current: number };

describe("migrate on PostgreSQL", () => {
  it("installs from an empty database to a version, then the rest, and reverts; dollar quotes and strings split right", async () => {
    const url = await database("fresh");
    const dir = await migrationsFolder(ws.dir, "pg-chain", {
      "0001_init.up.sql": "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);\nCREATE FUNCTION norm(t text) RETURNS text LANGUAGE plpgsql AS $fn$ BEGIN RETURN lower(t); END; $fn$;\n",
      "0001_init.down.sql": "DROP FUNCTION norm(text);\nDROP TABLE users;\n",
      "0002_teams.sql": "-- migrate:up\nCREATE TABLE teams (id int PRIMARY KEY, name text);\nINSERT INTO teams VALUES (1, 'semi;colon');\n-- migrate:down\nDROP TABLE teams;\n",
      "0003_index.sql": "-- migrate:up\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n-- migrate:down\nDROP INDEX CONCURRENTLY users_email;\n",
    });
    expect((await migrateJson<Up>(["up", url, "--dir", dir, "--to", "2"])).applied.map((a) => a.version)).toEqual([1, 2]);
    const rest = await migrateJson<Up>(["up", url, "--dir", dir]);
    expect(rest.applied).toEqual([expect.objectContaining({ version: 3, noTransaction: true })]);
    const rows = await history("fresh");
    expect(rows.map((r) => Number(r.version))).toEqual([1, 2, 3]);
    expect(rows[0]!.applied_by).toMatch(/ as postgres on /);
    expect(rows[2]!.statements_done).toBe(1);
    expect(await cluster.query("SELECT norm('ABC') AS v", "fresh")).toEqual([{ v: "abc" }]);
    expect((await migrateJson<Up>(["down", url, "--dir", dir])).current).toBe(2);
    expect(await cluster.query("SELECT 1 FROM pg_class WHERE relname = 'users_email'", "fresh")).toEqual([]);
    expect((await migrateJson<Up>(["down", url, "--dir", dir, "--to", "0", "--allow-data-loss"])).current).toBeNull();
    expect(await cluster.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", "fresh")).toEqual([{ tablename: "holdfast_schema_history" }]);
  });

  it("three concurrent migrate up: each migration applied once, every process succeeds", async () => {
    const url = await database("concurrent");
    const dir = await migrationsFolder(ws.dir, "pg-concurrent", {
      "0001_a.sql": "CREATE TABLE a (x int);\nSELECT pg_sleep(1);\n",
      "0002_b.sql": "CREATE TABLE b (x int);\nSELECT pg_sleep(1);\n",
      "0003_c.sql": "CREATE TABLE c (x int);\nINSERT INTO c SELECT generate_series(1, 100000);\n",
      "0004_index.sql": "CREATE INDEX CONCURRENTLY c_x ON c (x);\nSELECT pg_sleep(1);\n",
      "0005_d.sql": "CREATE TABLE d (x int);\n",
    });
    const runs = await Promise.all([1, 2, 3].map(() => runCli(["migrate", "up", url, "--dir", dir, "--json"])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const applied = runs.flatMap((r) => (JSON.parse(r.stdout) as Up).applied.map((a) => a.version)).sort();
    expect(applied).toEqual([1, 2, 3, 4, 5]);
    expect((await history("concurrent")).map((r) => Number(r.version))).toEqual([1, 2, 3, 4, 5]);
    expect(await cluster.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'c_x'::regclass", "concurrent")).toEqual([{ indisvalid: true }]);
  });

  it("kill -9 in the middle of a no-transaction migration: the next up resumes at the statement it stopped", async () => {
    const url = await database("killed", "CREATE TABLE items AS SELECT g AS a, g % 97 AS b FROM generate_series(1, 200000) g");
    const dir = await migrationsFolder(ws.dir, "pg-killed", {
      "0001_indexes.sql": "CREATE INDEX CONCURRENTLY items_a ON items (a);\nSELECT pg_sleep(3);\nCREATE INDEX CONCURRENTLY items_b ON items (b);\n",
    });
    const child = startCli(["migrate", "up", url, "--dir", dir]);
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    await waitFor("the first index to be recorded", async () => {
      const rows = await cluster.query<{ d: number }>("SELECT statements_done AS d FROM holdfast_schema_history", "killed").catch(() => []);
      return rows[0]?.d === 1;
    }, 30_000, 50);
    child.kill("SIGKILL");
    await exited;
    expect((await history("killed"))[0]).toMatchObject({ statements_done: 1, finished_at: null });
    const partial = await migrateJson<{ migrations: { state: string }[] }>(["status", url, "--dir", dir]);
    expect(partial.migrations[0]!.state).toBe("partial");
    const up = await migrateJson<Up>(["up", url, "--dir", dir]);
    expect(up.applied).toEqual([expect.objectContaining({ version: 1, resumedAt: 2 })]);
    const rows = await history("killed");
    expect(rows[0]!.statements_done).toBe(3);
    expect(rows[0]!.finished_at).not.toBeNull();
    expect(await cluster.query("SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1", "killed")).toEqual([
      { relname: "holdfast_schema_history_pkey", indisvalid: true },
      { relname: "items_a", indisvalid: true },
      { relname: "items_b", indisvalid: true },
    ]);
  });

  it("a failed concurrent index build leaves an INVALID index: the retry drops and rebuilds it", async () => {
    const url = await database("invalid", "CREATE TABLE dup (x int); INSERT INTO dup VALUES (1), (1), (2)");
    const dir = await migrationsFolder(ws.dir, "pg-invalid", { "0001_unique.sql": "-- holdfast:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY dup_x ON dup (x);\n" });
    const failed = await migrate(["up", url, "--dir", dir]);
    expect(failed.code).toBe(30);
    expect(errorLine(failed)).toMatch(/^migration 1_unique \(statement 1\) failed: could not create unique index "dup_x"/);
    expect(await cluster.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'dup_x'::regclass", "invalid")).toEqual([{ indisvalid: false }]);
    await cluster.query("DELETE FROM dup WHERE ctid = (SELECT max(ctid) FROM dup WHERE x = 1)", "invalid");
    const up = await migrateJson<Up>(["up", url, "--dir", dir]);
    expect(up.applied).toEqual([expect.objectContaining({ version: 1, resumedAt: 1 })]);
    expect(await cluster.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'dup_x'::regclass", "invalid")).toEqual([{ indisvalid: true }]);
  });

  it("a CREATE INDEX CONCURRENTLY that gave up on lock_timeout behind an open write drops its INVALID index and builds it again", async () => {
    const url = await database("cic_wait", "CREATE TABLE w (x int); INSERT INTO w SELECT generate_series(1, 1000)");
    const dir = await migrationsFolder(ws.dir, "pg-cic-wait", { "0001_i.sql": "CREATE INDEX CONCURRENTLY w_x ON w (x);\n" });
    const old = new pg.Client({ connectionString: cluster.url("cic_wait") });
    await old.connect();
    try {
      // An open write: CREATE INDEX CONCURRENTLY, its INVALID index already in the catalog, waits for it under lock_timeout.
      await old.query("BEGIN; INSERT INTO w VALUES (0)");
      const running = migrate(["up", url, "--dir", dir, "--lock-timeout", "500ms", "--lock-retries", "3", "--json"]);
      // Held past the first attempt's lock_timeout (its INVALID index appeared), released before the retry's.
      for (let i = 0; i < 200 && (await cluster.query("SELECT 1 FROM pg_class WHERE relname = 'w_x'", "cic_wait")).length === 0; i++) await new Promise((res) => setTimeout(res, 50));
      await new Promise((res) => setTimeout(res, 1000));
      await old.query("COMMIT");
      const r = await running;
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { applied: { lockRetries: number }[] }).applied[0]!.lockRetries).toBeGreaterThanOrEqual(1);
      expect(await cluster.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'w_x'::regclass", "cic_wait")).toEqual([{ indisvalid: true }]);
    } finally {
      await old.end();
    }
  });

  it("gives up after lock_timeout (with retries) instead of queueing, so other sessions are never blocked longer", async () => {
    const url = await database("busy", "CREATE TABLE busy (id int); INSERT INTO busy SELECT generate_series(1, 1000)");
    const dir = await migrationsFolder(ws.dir, "pg-busy", { "0001_col.sql": "ALTER TABLE busy ADD COLUMN c int;\n" });
    const blocker = new pg.Client({ connectionString: cluster.url("busy") });
    const reader = new pg.Client({ connectionString: cluster.url("busy") });
    await blocker.connect();
    await reader.connect();
    try {
      await blocker.query("BEGIN; SELECT count(*) FROM busy");
      let stop = false;
      let longest = 0;
      const reading = (async () => {
        while (!stop) {
          const t = Date.now();
          await reader.query("SELECT count(*) FROM busy");
          longest = Math.max(longest, Date.now() - t);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const started = Date.now();
      const r = await migrate(["up", url, "--dir", dir, "--lock-timeout", "500ms", "--lock-retries", "2"]);
      const elapsed = Date.now() - started;
      stop = true;
      await reading;
      expect(r.code).toBe(13);
      expect(errorLine(r)).toBe("migration 1_col gave up: a lock it needs stayed held by another session for longer than lock_timeout 500 ms, 3 attempts");
      expect(elapsed).toBeGreaterThan(3 * 500 + 1000 + 2000 - 200); // three attempts and two back-offs
      expect(elapsed).toBeLessThan(15_000);
      expect(longest).toBeLessThan(1500);
      expect(await cluster.query("SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'busy'::regclass AND attname = 'c'", "busy")).toEqual([{ n: 0 }]);
      await blocker.query("COMMIT");
      expect((await migrateJson<Up>(["up", url, "--dir", dir])).current).toBe(1);
    } finally {
      await blocker.end();
      await reader.end();
    }
  });

  it("statement_timeout stops a long statement; a declared PgBouncer refuses no-transaction migrations", async () => {
    const url = await database("timeouts", "CREATE TABLE t (x int)");
    const slow = await migrationsFolder(ws.dir, "pg-slow", { "0001_slow.sql": "CREATE TABLE made (x int);\nSELECT pg_sleep(5);\n" });
    const r = await migrate(["up", url, "--dir", slow, "--statement-timeout", "500ms"]);
    expect(r.code).toBe(30);
    expect(errorLine(r)).toBe("migration 1_slow failed (statement_timeout): canceling statement due to statement timeout");
    expect(await cluster.query("SELECT to_regclass('made') IS NULL AS gone", "timeouts")).toEqual([{ gone: true }]);
    const cic = await migrationsFolder(ws.dir, "pg-bouncer", { "0001_i.sql": "CREATE INDEX CONCURRENTLY t_x ON t (x);\n" });
    const refused = await migrate(["up", url, "--dir", cic, "--pgbouncer"]);
    expect(refused.code).toBe(2);
    expect(errorLine(refused)).toMatch(/is reached through a transaction-mode pooler \(PgBouncer\): statements outside a transaction cannot hold the migration lock/);
  });

  it("plan lists drops and narrowing types with the rows and bytes they discard; up refuses without --allow-data-loss", async () => {
    const url = await database("lossy", "CREATE TABLE people (id int, name varchar(100), n bigint, note text); INSERT INTO people SELECT g, repeat('x', g % 10), g::bigint * 100000000, 'note' FROM generate_series(1, 1000) g; CREATE TABLE old AS SELECT generate_series(1, 5000) AS x");
    const dir = await migrationsFolder(ws.dir, "pg-lossy", {
      "0001_shrink.sql": "ALTER TABLE people ALTER COLUMN name TYPE varchar(5), ALTER COLUMN n TYPE integer;\nALTER TABLE people DROP COLUMN note;\nDROP TABLE old;\nALTER TABLE people ALTER COLUMN id TYPE bigint;\n",
    });
    type Plan = { migrations: { destructive: { kind: string; table: string; column?: string; rows: number; bytes: number }[] }[]; dataLoss: unknown[] };
    const plan = await migrateJson<Plan>(["plan", url, "--dir", dir]);
    const found = plan.migrations[0]!.destructive.map((d) => [d.kind, d.table, d.column, d.rows]);
    expect(found).toEqual([
      ["narrow-type", "people", "name", 400],
      ["narrow-type", "people", "n", 979],
      ["drop-column", "people", "note", 1000],
      ["drop-table", "old", undefined, 5000],
    ]);
    expect(plan.migrations[0]!.destructive[3]!.bytes).toBeGreaterThan(100_000);
    const refused = await migrate(["up", url, "--dir", dir]);
    expect(refused.code).toBe(2);
    expect(errorLine(refused)).toMatch(/^the migrations would discard data: narrow-type people.name discards 400 rows/);
    expect(await cluster.query("SELECT to_regclass('old') IS NOT NULL AS here", "lossy")).toEqual([{ here: true }]);
  });

  it("a backup of the database waits for a running migration (and the other way round)", async () => {
    const url = await database("guarded", "CREATE TABLE t (x int)");
    const dir = await migrationsFolder(ws.dir, "pg-guarded", { "0001_slow.sql": "SELECT pg_sleep(4);\nCREATE TABLE after_sleep (x int);\n" });
    const child = startCli(["migrate", "up", url, "--dir", dir], { env: ws.env });
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    await waitFor("the migration to run", async () => (await cluster.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(4)%' AND datname = 'guarded'")).length > 0, 30_000, 50);
    const backup = await runCli(["backup", url], { env: ws.env });
    expect(backup.code).toBe(13);
    expect(errorLine(backup)).toMatch(/^another Holdfast process holds the lock for this source \(migrate up of postgres:/);
    expect(await exited).toBe(0);
    expect((await runCli(["backup", url], { env: ws.env })).code).toBe(0);
  });
});
