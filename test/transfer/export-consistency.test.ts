import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { openExportFile } from "../../dist/transfer/reader.js";

/**
 * An export taken while a writer commits, one transaction per step: a new customer (stamped with
 * its time in ms), two orders referencing it, and +2 on the single counter row. Read back, the
 * export must be one instant of the database: every order's customer is there, the counter equals
 * the orders exported, and each table's rows equal the manifest's count.
 *
 * Why this can fail: the tables are read one after the other (counter, customers, orders: parents
 * first). Were each read in its own snapshot (READ COMMITTED cursors, or SQLite read transactions
 * per table), a step committed between two table reads would be in the later table only: orders
 * whose customer is missing (customers read earlier), or a counter that disagrees with the orders
 * (read at another moment). The test proves such steps happened: customers stamped after the
 * export logged its first table and before it logged its second-to-last, i.e. after one table's
 * cursor opened and before the last one's did. Only one snapshot for all tables passes.
 */
const SEED_CUSTOMERS = 100_000;
const SEED_ORDERS = 200_000;

let ws: Workspace;
let cluster: PgCluster;
beforeAll(async () => {
  [ws, cluster] = await Promise.all([workspace({ encryption: "none" }), startCluster()]);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

interface Window {
  /** When the export logged its first and its second-to-last table as done (ms). */
  from: number;
  to: number;
}

/** `holdfast export <source> --out <file>` (plaintext); the window between its table reads from its log. */
async function exportWhileWriting(source: string, file: string): Promise<Window> {
  const r = await runCli(["--log-level", "info", "export", source, "--out", file, "--encryption", "none"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  const done = r.stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { msg: string; time: string; table?: string })
    .filter((l) => l.msg === "table exported");
  expect(done.map((l) => l.table)).toEqual(["counter", "customers", "orders"]);
  return { from: Date.parse(done[0]!.time), to: Date.parse(done[done.length - 2]!.time) };
}

/** Read the export back and check it is one consistent instant; returns the orders it holds. */
async function assertConsistent(file: string): Promise<number> {
  const reader = await openExportFile(file);
  const customers = new Set<string>();
  let orders = 0;
  let orphans = 0;
  let counter: number | undefined;
  try {
    for await (const t of reader.tables()) {
      const columns = reader.schema.tables.find((s) => s.name === t.entry.name)!.columns.map((c) => c.name);
      const at = (name: string) => columns.indexOf(name);
      let rows = 0;
      for await (const row of t.rows()) {
        rows++;
        if (t.entry.name === "customers") customers.add(String(row[at("id")]));
        else if (t.entry.name === "orders") {
          orders++;
          if (!customers.has(String(row[at("customer_id")]))) orphans++;
        } else counter = Number(row[at("orders")]);
      }
      expect(rows, `${t.entry.name}: rows read vs manifest`).toBe(t.entry.rows);
    }
  } finally {
    await reader.close();
  }
  expect(orphans, "orders whose customer is not in the export").toBe(0);
  expect(counter, "the counter row vs the orders exported").toBe(orders);
  expect(orders).toBeGreaterThanOrEqual(SEED_ORDERS);
  return orders;
}

describe("export under a concurrent writer: one snapshot for every table", () => {
  it("PostgreSQL: 300k rows exported while a connection commits customer + orders + counter steps", async () => {
    await cluster.query("CREATE DATABASE shop");
    await cluster.query(
      `CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, at_ms bigint NOT NULL, note text);
       CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers(id), amount int NOT NULL, note text);
       CREATE TABLE counter (id int PRIMARY KEY, orders bigint NOT NULL);
       INSERT INTO customers (name, at_ms, note) SELECT 'seed ' || g, 0, repeat('x', 100) FROM generate_series(1, ${SEED_CUSTOMERS}) g;
       INSERT INTO orders (customer_id, amount, note) SELECT 1 + g % ${SEED_CUSTOMERS}, g, repeat('y', 50) FROM generate_series(1, ${SEED_ORDERS}) g;
       INSERT INTO counter VALUES (1, ${SEED_ORDERS});`,
      "shop",
    );
    const writer = new pg.Client({ connectionString: cluster.url("shop") });
    await writer.connect();
    let stop = false;
    let commits = 0;
    const writing = (async () => {
      while (!stop) {
        await writer.query("BEGIN");
        const { rows } = await writer.query<{ id: string }>("INSERT INTO customers (name, at_ms) VALUES ($1, $2) RETURNING id", [`writer ${commits}`, Date.now()]);
        await writer.query("INSERT INTO orders (customer_id, amount) VALUES ($1, 1), ($1, 2)", [rows[0]!.id]);
        await writer.query("UPDATE counter SET orders = orders + 2 WHERE id = 1");
        await writer.query("COMMIT");
        commits++;
      }
    })();
    const file = join(ws.dir, "shop.export");
    let window: Window;
    try {
      window = await exportWhileWriting(cluster.url("shop"), file);
    } finally {
      stop = true;
      await writing;
      await writer.end();
    }
    const exported = await assertConsistent(file);
    const [between] = await cluster.query<{ n: string }>(`SELECT count(*) AS n FROM customers WHERE at_ms > ${window.from} AND at_ms < ${window.to - 20}`, "shop");
    expect(Number(between!.n), "steps committed between the export's table reads").toBeGreaterThan(0);
    const [total] = await cluster.query<{ n: string }>("SELECT count(*) AS n FROM orders", "shop");
    expect(Number(total!.n)).toBeGreaterThan(exported); // the writer went on after the snapshot
    expect(commits).toBeGreaterThan(0);
  }, 120_000);

  it("SQLite in WAL mode: exported while a writer process commits the same steps", async () => {
    const path = join(ws.dir, "shop.db");
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, at_ms INTEGER NOT NULL, note TEXT);
             CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), amount INTEGER NOT NULL, note TEXT);
             CREATE TABLE counter (id INTEGER PRIMARY KEY, orders INTEGER NOT NULL);
             WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ${SEED_CUSTOMERS})
               INSERT INTO customers (name, at_ms, note) SELECT 'seed ' || n, 0, printf('%.100c', 'x') FROM g;
             WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ${SEED_ORDERS})
               INSERT INTO orders (customer_id, amount, note) SELECT 1 + n % ${SEED_CUSTOMERS}, n, printf('%.50c', 'y') FROM g;
             INSERT INTO counter VALUES (1, ${SEED_ORDERS});`);
    db.close();
    const writer: ChildProcess = spawn(process.execPath, [resolve(import.meta.dirname, "../support/fk-writer.mjs"), path], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    writer.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    writer.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const file = join(ws.dir, "shop-sqlite.export");
    let window: Window;
    try {
      while (!out.includes("ready")) {
        if (writer.exitCode !== null) throw new Error(`writer exited: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      window = await exportWhileWriting(`sqlite:${path}`, file);
    } finally {
      const exited = once(writer, "exit");
      writer.kill("SIGTERM");
      await exited;
    }
    expect(err).toBe("");
    const commits = (JSON.parse(out.split("\n").find((l) => l.startsWith("{"))!) as { commits: number }).commits;
    const exported = await assertConsistent(file);
    const check = new Database(path, { readonly: true });
    try {
      const between = Number(check.prepare(`SELECT count(*) FROM customers WHERE at_ms > ? AND at_ms < ?`).pluck().get(window.from, window.to - 20));
      expect(between, "steps committed between the export's table reads").toBeGreaterThan(0);
      expect(Number(check.prepare("SELECT count(*) FROM orders").pluck().get())).toBe(SEED_ORDERS + 2 * commits);
      expect(SEED_ORDERS + 2 * commits).toBeGreaterThan(exported);
    } finally {
      check.close();
    }
  }, 120_000);
});
