import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, runCli, startCli, workspace, type RunResult, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { fingerprint } from "../support/pg-data.js";
import { countRows, dumpTable, integrity } from "../support/sqlite.js";

/**
 * holdfast import when something else happens at the same time: a second import into the same
 * target, kill -9 in the middle of writing, an application writing to the same SQLite file.
 * Real clusters, real files, the built CLI.
 */
let ws: Workspace;
let cluster: PgCluster;
/** Exports of `items` (id 1..ROWS): every name 'a' / every name 'b'. */
let exportA: string;
let exportB: string;
const ROWS = 20_000;

beforeAll(async () => {
  [ws, cluster] = await Promise.all([workspace({ encryption: "none" }), startCluster()]);
  for (const [name, value] of [["a", "a"], ["b", "b"]] as const) {
    const path = join(ws.dir, `${name}.db`);
    const db = new Database(path);
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER);
      WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${ROWS}) INSERT INTO items SELECT i, '${value}', i FROM c;`);
    db.close();
    const file = join(ws.dir, `${name}.export`);
    const r = await runCli(["export", `sqlite:${path}`, "--out", file, "--encryption", "none"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    if (name === "a") exportA = file;
    else exportB = file;
  }
}, 30_000);
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

const imp = (args: string[]): Promise<RunResult> => runCli(["import", ...args], { env: ws.env, cwd: ws.dir });

/** Two imports of different exports with --strategy fail into one target at once: one commits whole, the other refuses (34). */
async function race(to: string, names: () => Promise<string[]>): Promise<void> {
  const [a, b] = await Promise.all([imp([exportA, "--to", to, "--strategy", "fail"]), imp([exportB, "--to", to, "--strategy", "fail"])]);
  expect([a.code, b.code].sort(), `${a.stderr.slice(-400)}\n${b.stderr.slice(-400)}`).toEqual([0, 34]);
  const loser = a.code === 34 ? a : b;
  expect(errorLine(loser)).toMatch(/^items: 20000 row\(s\) exist in the target with other values, the first at id=1; nothing was written$/);
  const winner = a.code === 0 ? "a" : "b";
  expect(await names()).toEqual([`${winner}:${ROWS}`]); // every row from one export, none from the other
}

describe.concurrent("import while something else happens", () => {
  it("two imports into one PostgreSQL database at once: one after the other, never a mix", async () => {
    await cluster.query("CREATE DATABASE twice");
    // A slow statement trigger keeps the first import's rows uncommitted while the second one plans.
    await cluster.query(
      `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty bigint);
       CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$;
       CREATE TRIGGER slow AFTER INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION slow();`,
      "twice",
    );
    await race(cluster.url("twice"), async () => (await cluster.query<{ v: string }>("SELECT name || ':' || count(*) AS v FROM items GROUP BY name", "twice")).map((r) => r.v));
  });

  it("two imports into one SQLite file at once: one after the other, never a mix", async () => {
    const to = join(ws.dir, "twice.db");
    const db = new Database(to);
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER)");
    db.close();
    await race(to, async () => (dumpTable(to, "items") as { name: string }[]).reduce<string[]>((acc, r) => (acc.includes(`${r.name}:${ROWS}`) ? acc : [...acc, `${r.name}:${ROWS}`]), []));
    expect(countRows(to, "items")).toBe(ROWS);
  });

  it("two --create-schema imports into one empty target at once: the second finds the table the first created", async () => {
    await cluster.query("CREATE DATABASE created_twice");
    const lite = join(ws.dir, "created-twice.db");
    for (const to of [cluster.url("created_twice"), lite]) {
      const both = await Promise.all([exportA, exportB].map((e) => imp([e, "--to", to, "--strategy", "skip", "--create-schema", "--json"])));
      for (const r of both) expect(r.code, r.stderr.slice(-400)).toBe(0);
      const counts = both.map((r) => JSON.parse(r.stdout).tables[0]).map((t: { inserted: number; skipped: number }) => [t.inserted, t.skipped]).sort();
      expect(counts, to).toEqual([[0, ROWS], [ROWS, 0]]);
    }
    expect(await cluster.query("SELECT count(*)::int AS n, count(DISTINCT name)::int AS names FROM items", "created_twice")).toEqual([{ n: ROWS, names: 1 }]);
    expect(countRows(lite, "items")).toBe(ROWS);
  });

  it("an import that waits past the bound for another import into the same PostgreSQL database refuses with LOCKED (13), nothing written", async () => {
    await cluster.query("CREATE DATABASE waited");
    await cluster.query("CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty bigint)", "waited");
    // Another import's transaction, as the lock it holds (pg-session.ts) shows it.
    const other = new pg.Client({ host: cluster.socketDir, port: cluster.port, user: cluster.superuser, database: "waited" });
    await other.connect();
    try {
      await other.query("BEGIN; SELECT pg_advisory_xact_lock(hashtext('holdfast import'))");
      const started = Date.now();
      const r = await imp([exportA, "--to", cluster.url("waited"), "--strategy", "merge"]);
      expect(r.code).toBe(13);
      expect(errorLine(r)).toMatch(/: another import into this database was still running after 10 s; nothing was written$/);
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      await other.end();
    }
    expect(await cluster.query("SELECT count(*)::int AS n FROM items", "waited")).toEqual([{ n: 0 }]);
    expect(await cluster.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'holdfast import' AND datname = current_database()", "waited")).toEqual([{ n: 0 }]);
  }, 30_000);

  it("kill -9 while PostgreSQL applies the last table: the target unchanged, no staging table, no session left", async () => {
    await cluster.query("CREATE DATABASE killed");
    await cluster.query(
      `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty bigint); INSERT INTO items VALUES (1, 'kept', 1), (99999, 'outside', 9);
       CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$;
       CREATE TRIGGER slow AFTER INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION slow();`,
      "killed",
    );
    const before = await fingerprint(cluster, "killed", "items");
    const child = startCli(["import", exportA, "--to", cluster.url("killed"), "--strategy", "merge"], { env: ws.env, cwd: ws.dir });
    child.stdout!.resume();
    child.stderr!.resume();
    const sessions = () => cluster.query<{ pid: number; query: string }>("SELECT pid, query FROM pg_stat_activity WHERE application_name = 'holdfast import' AND datname = current_database()", "killed");
    const deadline = Date.now() + 20_000;
    while (!(await sessions()).some((s) => s.query.includes("INSERT INTO"))) {
      expect(Date.now(), "the import never reached its INSERT").toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    // The server notices the lost client within seconds (not after the 60 s trigger) and rolls back.
    const gone = Date.now() + 8_000;
    while ((await sessions()).length > 0) {
      expect(Date.now(), "the import's session outlived its client").toBeLessThan(gone);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await fingerprint(cluster, "killed", "items")).toBe(before);
    expect(await cluster.query("SELECT relname FROM pg_class WHERE relname LIKE 'holdfast_stage_%'", "killed")).toEqual([]);
  }, 40_000);

  it("kill -9 while SQLite applies: after the next open the file holds what it held, integrity ok", async () => {
    const to = join(ws.dir, "killed.db");
    const db = new Database(to);
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER); INSERT INTO items VALUES (1, 'kept', 1), (99999, 'outside', 9);");
    db.close();
    const before = dumpTable(to, "items");
    const child = startCli(["import", exportB, "--to", to, "--strategy", "overwrite"], { env: ws.env, cwd: ws.dir });
    child.stdout!.resume();
    child.stderr!.resume();
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    // The rollback journal appears with the first page the import writes to the file (staging is in temp).
    let killed = false;
    const watch = setInterval(() => {
      if (!killed && existsSync(`${to}-journal`)) {
        killed = true;
        child.kill("SIGKILL");
      }
    }, 1);
    const code = await exited;
    clearInterval(watch);
    expect(killed, `the import ended (${code}) before it wrote`).toBe(true);
    expect(existsSync(`${to}-journal`)).toBe(true); // a hot journal: the write really was cut
    expect(execFileSync("sqlite3", [to, "PRAGMA integrity_check"]).toString().trim()).toBe("ok"); // a writable open rolls a hot journal back
    expect(dumpTable(to, "items")).toEqual(before);
  });

  it("an application writing to the same SQLite file (WAL): the import waits its turn and commits; the application goes on", async () => {
    const to = join(ws.dir, "shared.db");
    const db = new Database(to);
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER)");
    db.close();
    const writer = await startWriter(to);
    try {
      const before = countRows(to, "events");
      const r = await imp([exportA, "--to", to, "--strategy", "merge", "--json"]);
      expect(r.code, r.stderr.slice(-600)).toBe(0);
      expect(JSON.parse(r.stdout).tables).toEqual([{ name: "items", inserted: ROWS, updated: 0, unchanged: 0, skipped: 0, rejected: 0 }]);
      await new Promise((res) => setTimeout(res, 200));
      expect(writer.exitCode).toBeNull(); // the application never failed
      expect(countRows(to, "events")).toBeGreaterThan(before);
    } finally {
      writer.kill("SIGKILL");
    }
    expect(integrity(to)).toBe("ok");
    expect(countRows(to, "items")).toBe(ROWS);
  });

  it("a writer that holds the SQLite file's write lock: the import gives up after a bounded wait with LOCKED (13), nothing written", async () => {
    const to = join(ws.dir, "held.db");
    const db = new Database(to);
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER)");
    db.close();
    const holder = spawn("sqlite3", [to], { stdio: ["pipe", "pipe", "inherit"] });
    holder.stdin!.write("BEGIN IMMEDIATE; INSERT INTO items VALUES (5, 'holder', 5); SELECT 'held';\n");
    await new Promise((res) => holder.stdout!.once("data", res));
    try {
      const started = Date.now();
      const r = await imp([exportA, "--to", to, "--strategy", "merge"]);
      expect(r.code).toBe(13);
      expect(errorLine(r)).toMatch(/^import into sqlite:.*held\.db: the file stayed locked by another writer for 10 s; nothing was written$/);
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      holder.stdin!.end("ROLLBACK;\n");
      await new Promise((res) => holder.once("exit", res));
    }
    expect(countRows(to, "items")).toBe(0);
    expect(integrity(to)).toBe("ok");
  }, 30_000);
});

function startWriter(db: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [resolve(import.meta.dirname, "../support/sqlite-writer.mjs"), db], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((res, rej) => {
    child.stdout!.once("data", () => res(child));
    child.once("exit", (code) => rej(new Error(`writer exited ${code}`)));
  });
}
