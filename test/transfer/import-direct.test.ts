import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, runCli, startCli, workspace, type RunResult, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { openPgTarget } from "../../dist/transfer/pg-target.js";

/**
 * PostgreSQL import into tables that are empty when the import reaches them: the rows are COPYed
 * straight into the table (no staging), the table locked against other writers until COMMIT.
 * Real cluster, real exports, the built CLI.
 */
let ws: Workspace;
let cluster: PgCluster;
/** An export of `items` (id 1..ROWS, name 'a'). */
let items: string;
const ROWS = 20_000;

let dbs = 0;
async function database(sql: string): Promise<string> {
  const name = `direct_${++dbs}`;
  await cluster.query(`CREATE DATABASE ${name}`);
  await cluster.query(sql, name);
  return name;
}

async function sqliteExport(name: string, sql: string): Promise<string> {
  const path = join(ws.dir, `${name}.db`);
  const db = new Database(path);
  db.exec(sql);
  db.close();
  const file = join(ws.dir, `${name}.export`);
  const r = await runCli(["export", `sqlite:${path}`, "--out", file, "--encryption", "none"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  return file;
}

beforeAll(async () => {
  [ws, cluster] = await Promise.all([workspace({ encryption: "none" }), startCluster()]);
  items = await sqliteExport("items", `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${ROWS}) INSERT INTO items SELECT i, 'a' FROM c;`);
}, 30_000);
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

const imp = (args: string[]): Promise<RunResult> => runCli(["import", ...args], { env: ws.env, cwd: ws.dir });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the import's session holds SHARE ROW EXCLUSIVE on `table`: it is loading it directly. */
async function untilLoading(db: string, table: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const held = await cluster.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE a.application_name = 'holdfast import' AND l.relation = '${table}'::regclass AND l.mode = 'ShareRowExclusiveLock' AND l.granted`,
      db,
    );
    if (held[0]!.n > 0) return;
    expect(Date.now(), "the import never locked the table").toBeLessThan(deadline);
    await sleep(50);
  }
}

const client = async (db: string): Promise<pg.Client> => {
  const c = new pg.Client({ host: cluster.socketDir, port: cluster.port, user: cluster.superuser, database: db });
  await c.connect();
  return c;
};

describe.concurrent("import into an empty PostgreSQL table: COPY straight into it", () => {
  it("another session's INSERTs wait for the import's COMMIT, then a new key goes in and an imported key conflicts: nothing lost, no duplicate", async () => {
    // A slow statement trigger keeps the loaded rows uncommitted long enough for the other session to try.
    const db = await database(`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL);
      CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$;
      CREATE TRIGGER slow AFTER INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION slow();`);
    const child = startCli(["import", items, "--to", cluster.url(db), "--strategy", "merge", "--json"], { env: ws.env, cwd: ws.dir });
    let stdout = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.resume();
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    await untilLoading(db, "items");
    const [fresh, clash] = [await client(db), await client(db)];
    try {
      const settled: string[] = [];
      const outcome = (who: string, p: Promise<unknown>) => p.then(() => `${who}: ok`, (e: { code?: string }) => `${who}: ${e.code}`).then((s) => (settled.push(s), s));
      const inserts = Promise.all([
        outcome("new key", fresh.query("INSERT INTO items (id, name) VALUES ($1, 'app')", [ROWS + 1])),
        outcome("imported key", clash.query("INSERT INTO items (id, name) VALUES (5, 'app')")),
      ]);
      await sleep(300);
      expect(settled, "the other session wrote while the import held the table").toEqual([]);
      expect(await exited).toBe(0);
      expect(await inserts).toEqual(["new key: ok", "imported key: 23505"]);
    } finally {
      await Promise.all([fresh.end(), clash.end()]);
    }
    const report = JSON.parse(stdout) as { tables: unknown[]; plan: { tables: { insert: number; update: number; unchanged: number; skip: number; conflict: number; conflicts: unknown[] }[] } };
    expect(report.tables).toEqual([{ name: "items", inserted: ROWS, updated: 0, unchanged: 0, skipped: 0, rejected: 0 }]);
    expect(report.plan.tables[0]).toMatchObject({ insert: ROWS, update: 0, unchanged: 0, skip: 0, conflict: 0, conflicts: [] });
    expect(await cluster.query("SELECT name, count(*)::int AS n, count(DISTINCT id)::int AS ids FROM items GROUP BY name ORDER BY name", db)).toEqual([
      { name: "a", n: ROWS, ids: ROWS },
      { name: "app", n: 1, ids: 1 },
    ]);
  }, 40_000);

  it("a GENERATED ALWAYS identity is loaded as exported and moved past the largest id; a generated column computed", async () => {
    const db = await database("CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, twice bigint GENERATED ALWAYS AS (id * 2) STORED);");
    const r = await imp([items, "--to", cluster.url(db), "--strategy", "fail", "--json"]);
    expect(r.code, r.stderr.slice(-400)).toBe(0);
    expect(JSON.parse(r.stdout).tables).toEqual([{ name: "items", inserted: ROWS, updated: 0, unchanged: 0, skipped: 0, rejected: 0 }]);
    expect(await cluster.query("INSERT INTO items (name) VALUES ('next') RETURNING id::int, twice::int", db)).toEqual([{ id: ROWS + 1, twice: 2 * (ROWS + 1) }]);
    expect(await cluster.query("SELECT count(*)::int AS n FROM items WHERE twice = id * 2", db)).toEqual([{ n: ROWS + 1 }]);
  });

  it("a table with rows is staged as before: its lock is given up, another session's INSERT goes through while the import writes", async () => {
    const db = await database(`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL); INSERT INTO items VALUES (${ROWS + 1}, 'app');
      CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF current_setting('application_name') = 'holdfast import' THEN PERFORM pg_sleep(2); END IF; RETURN NULL; END $$;
      CREATE TRIGGER slow AFTER INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION slow();`);
    const child = startCli(["import", items, "--to", cluster.url(db), "--strategy", "merge"], { env: ws.env, cwd: ws.dir });
    child.stdout!.resume();
    child.stderr!.resume();
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const deadline = Date.now() + 20_000;
    const writing = async () => (await cluster.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'holdfast import' AND datname = current_database() AND query LIKE '%INSERT INTO%'", db))[0]!.n > 0;
    while (!(await writing())) {
      expect(Date.now(), "the import never reached its INSERT").toBeLessThan(deadline);
      await sleep(50);
    }
    const app = await client(db);
    try {
      await app.query("SET lock_timeout = '1s'");
      await app.query("INSERT INTO items VALUES ($1, 'app')", [ROWS + 2]); // refused (55P03) if the import still held the table
      expect(await writing(), "the application's insert went through before the import's ended").toBe(true);
    } finally {
      await app.end();
    }
    expect(await exited).toBe(0);
    expect(await cluster.query("SELECT name, count(*)::int AS n FROM items GROUP BY name ORDER BY name", db)).toEqual([{ name: "a", n: ROWS }, { name: "app", n: 2 }]);
  }, 40_000);

  it("a bad row in the last table leaves every table empty, no lock or session left", async () => {
    const file = await sqliteExport("check", `CREATE TABLE alpha (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE zeta (id INTEGER PRIMARY KEY, alpha_id INTEGER REFERENCES alpha (id), qty INTEGER);
      WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 500) INSERT INTO alpha SELECT i, 'v' || i FROM c;
      INSERT INTO zeta VALUES (1, 1, 5), (2, 2, -1);`);
    const db = await database("CREATE TABLE alpha (id bigint PRIMARY KEY, v text); CREATE TABLE zeta (id bigint PRIMARY KEY, alpha_id bigint REFERENCES alpha, qty bigint CHECK (qty >= 0));");
    const r = await imp([file, "--to", cluster.url(db), "--strategy", "overwrite"]);
    expect(r.code, r.stderr.slice(-400)).toBe(37);
    expect(errorLine(r)).toMatch(/: loading zeta: .*zeta_qty_check/);
    expect(await cluster.query("SELECT (SELECT count(*)::int FROM alpha) AS alpha, (SELECT count(*)::int FROM zeta) AS zeta", db)).toEqual([{ alpha: 0, zeta: 0 }]);
    expect(await cluster.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'holdfast import' AND datname = current_database()", db)).toEqual([{ n: 0 }]);
  });

  it("--create-schema: created tables get their keys after the load; a key that converts to one value twice is refused at the build, nothing created", async () => {
    // Two SQLite DATETIME keys, one ISO text and one epoch milliseconds, are one instant in PostgreSQL.
    const file = await sqliteExport("instants", `CREATE TABLE events (at DATETIME PRIMARY KEY, name TEXT UNIQUE);
      INSERT INTO events VALUES ('2026-01-01T00:00:00.000Z', 'a'), (1767225600000, 'b'), ('2026-01-02T00:00:00.000Z', 'c');`);
    const db = await database("SELECT 1");
    const r = await imp([file, "--to", cluster.url(db), "--strategy", "fail", "--create-schema"]);
    expect(r.code, r.stderr.slice(-400)).toBe(37);
    expect(errorLine(r)).toMatch(/: loading events: the export holds \(at\)=\(2026-01-01 00:00:00\+00\) more than once; nothing was written$/);
    expect(await cluster.query("SELECT to_regclass('public.events') IS NULL AS gone", db)).toEqual([{ gone: true }]);
    // Without the clash the keys are in place after the load, as declared.
    const ok = await sqliteExport("instants_ok", `CREATE TABLE events (at DATETIME PRIMARY KEY, name TEXT UNIQUE, parent DATETIME REFERENCES events (at));
      INSERT INTO events VALUES ('2026-01-01T00:00:00.000Z', 'a', NULL), (1767312000000, 'b', '2026-01-01T00:00:00.000Z');`);
    const r2 = await imp([ok, "--to", cluster.url(db), "--strategy", "fail", "--create-schema"]);
    expect(r2.code, r2.stderr.slice(-400)).toBe(0);
    const keys = await cluster.query<{ contype: string; def: string }>("SELECT contype::text, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'events'::regclass ORDER BY contype, def", db);
    expect(keys.map((k) => `${k.contype} ${k.def}`)).toEqual(["f FOREIGN KEY (parent) REFERENCES events(at) DEFERRABLE INITIALLY DEFERRED", "p PRIMARY KEY (at)", "u UNIQUE (name)"]);
    await expect(cluster.query("INSERT INTO events (at, name) VALUES ('2026-01-01T00:00:00Z', 'again')", db)).rejects.toThrow(/duplicate key value violates unique constraint/);
  });

  it("an export holding a key twice: one clear line (37), the target unchanged — loaded directly or staged", async () => {
    const file = await sqliteExport("twice", "CREATE TABLE items (id INTEGER, name TEXT); INSERT INTO items VALUES (1, 'x'), (2, 'y'), (1, 'z');");
    const empty = await database("CREATE TABLE items (id bigint PRIMARY KEY, name text);");
    const direct = await imp([file, "--to", cluster.url(empty), "--strategy", "merge"]);
    expect(direct.code, direct.stderr.slice(-400)).toBe(37);
    expect(errorLine(direct)).toMatch(/: loading items: the export holds \(id\)=\(1\) more than once \(items_pkey\); nothing was written$/);
    expect(await cluster.query("SELECT count(*)::int AS n FROM items", empty)).toEqual([{ n: 0 }]);
    // A table with a row is staged: INSERT … ON CONFLICT meets the key twice.
    const filled = await database("CREATE TABLE items (id bigint PRIMARY KEY, name text); INSERT INTO items VALUES (9, 'kept');");
    const staged = await imp([file, "--to", cluster.url(filled), "--strategy", "merge"]);
    expect(staged.code, staged.stderr.slice(-400)).toBe(37);
    expect(errorLine(staged)).toMatch(/: writing items: .*cannot affect row a second time/);
    expect(await cluster.query("SELECT id::int, name FROM items", filled)).toEqual([{ id: 9, name: "kept" }]);
  });

  it("orphans of directly loaded tables are found in the tables themselves", async () => {
    const file = await sqliteExport("orphans", `PRAGMA foreign_keys = OFF; CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));
      INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (1, 1), (2, 2), (3, 7), (4, NULL);`);
    const db = await database("CREATE TABLE parent (id bigint PRIMARY KEY); CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint REFERENCES parent DEFERRABLE);");
    const r = await imp([file, "--to", cluster.url(db), "--strategy", "skip"]);
    expect(r.code, r.stderr.slice(-400)).toBe(37);
    expect(errorLine(r)).toContain("child_parent_id_fkey");
    // The same load driven step by step: the plan's orphan is the child row pointing at parent 7.
    const target = await openPgTarget(cluster.url(db));
    try {
      await target.begin();
      const rows = (values: (bigint | null)[][]) => (async function* () { yield values; })();
      expect(await target.stage("parent", ["id"], rows([[1n], [2n]]), { pending: ["child"] })).toBe(2);
      expect(await target.stage("child", ["id", "parent_id"], rows([[1n, 1n], [2n, 2n], [3n, 7n], [4n, null]]), { pending: [] })).toBe(4);
      expect(await target.compare("child", ["id"], ["id", "parent_id"], 5)).toEqual({ insert: 4, unchanged: 0, conflict: 0, samples: [] });
      expect(await target.orphans(["parent", "child"], "skip")).toEqual([{ table: "child", foreignKey: "child_parent_id_fkey", references: "parent (id)", count: 1, samples: ["(id)=(3)"] }]);
      await target.rollback();
    } finally {
      await target.close();
    }
    expect(await cluster.query("SELECT (SELECT count(*)::int FROM parent) AS p, (SELECT count(*)::int FROM child) AS c", db)).toEqual([{ p: 0, c: 0 }]);
  });

  it("a NOT DEFERRABLE key checks each loaded row itself; with its check not firing (triggers disabled, replica role) the plan still finds the orphan", async () => {
    const schema = "CREATE TABLE parent (id bigint PRIMARY KEY); CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint REFERENCES parent); INSERT INTO parent VALUES (1), (2);";
    const rows = (values: (bigint | null)[][]) => (async function* () { yield values; })();
    const load = async (url: string, values: (bigint | null)[][]) => {
      const target = await openPgTarget(url);
      try {
        await target.begin();
        const loaded = await target.stage("child", ["id", "parent_id"], rows(values), { pending: [] });
        const orphans = await target.orphans(["child"], "fail");
        await target.rollback();
        return { loaded, orphans };
      } finally {
        await target.close();
      }
    };
    const orphan = [{ table: "child", foreignKey: "child_parent_id_fkey", references: "parent (id)", count: 1, samples: ["(id)=(3)"] }];
    // Checked by the COPY: a row without its parent never lands, and rows that do have none to find.
    const checked = await database(schema);
    await expect(load(cluster.url(checked), [[1n, 1n], [3n, 7n]])).rejects.toThrow(/child_parent_id_fkey/);
    expect(await load(cluster.url(checked), [[1n, 1n], [2n, 2n], [4n, null]])).toEqual({ loaded: 3, orphans: [] });
    // Its trigger disabled: the COPY lets the orphan in, and the plan's scan finds it.
    const disabled = await database(`${schema} ALTER TABLE child DISABLE TRIGGER ALL;`);
    expect(await load(cluster.url(disabled), [[1n, 1n], [3n, 7n]])).toEqual({ loaded: 2, orphans: orphan });
    // A session in the replica role fires no ordinary trigger either.
    const replica = await database(schema);
    await cluster.query(`ALTER DATABASE ${replica} SET session_replication_role = replica`);
    expect(await load(cluster.url(replica), [[1n, 1n], [3n, 7n]])).toEqual({ loaded: 2, orphans: orphan });
  });

  it("kill -9 while loading directly: the table stays empty, no session left", async () => {
    const db = await database(`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL);
      CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$;
      CREATE TRIGGER slow AFTER INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION slow();`);
    const child = startCli(["import", items, "--to", cluster.url(db), "--strategy", "fail"], { env: ws.env, cwd: ws.dir });
    child.stdout!.resume();
    child.stderr!.resume();
    await untilLoading(db, "items");
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    const gone = Date.now() + 8_000;
    while ((await cluster.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'holdfast import' AND datname = current_database()", db))[0]!.n > 0) {
      expect(Date.now(), "the import's session outlived its client").toBeLessThan(gone);
      await sleep(100);
    }
    expect(await cluster.query("SELECT count(*)::int AS n FROM items", db)).toEqual([{ n: 0 }]);
  }, 40_000);
});
