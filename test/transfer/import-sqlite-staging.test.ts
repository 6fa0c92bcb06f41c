import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startCli, workspace, type Workspace } from "../support/cli.js";
import { countRows, integrity } from "../support/sqlite.js";

/**
 * A SQLite import stages every row into its temp schema before it takes the file's write lock: an
 * application writing to the same file (rollback journal, busy_timeout 200 ms) goes on while the
 * rows stream in, and is held up only while the import compares and applies.
 */
let ws: Workspace;
let exported: string;
const ROWS = 150_000;

beforeAll(async () => {
  ws = await workspace({ encryption: "none" });
  const path = join(ws.dir, "source.db");
  const db = new Database(path);
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, body TEXT);
    WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${ROWS}) INSERT INTO items SELECT i, 'new', hex(randomblob(48)) FROM c;`);
  db.close();
  exported = join(ws.dir, "items.export");
  const r = await runCli(["export", `sqlite:${path}`, "--out", exported, "--encryption", "none"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
}, 60_000);
afterAll(async () => {
  await ws?.cleanup();
});

interface Write {
  startedAt: number;
  endedAt: number;
  error?: string;
}

describe("SQLite import beside an application", () => {
  it("an application with busy_timeout 200 ms writing every 50 ms never gets SQLITE_BUSY while the import stages; the result is exact", async () => {
    const to = join(ws.dir, "app.db");
    const setup = new Database(to);
    setup.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, body TEXT); CREATE TABLE events (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
      WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10) INSERT INTO items SELECT i, 'old', NULL FROM c;`);
    setup.close();

    const app = new Database(to);
    app.pragma("busy_timeout = 200"); // the rollback journal: a reader's lock alone would stall its commits
    const insert = app.prepare("INSERT INTO events (at) VALUES (?)");
    const writes: Write[] = [];
    const timer = setInterval(() => {
      const startedAt = Date.now();
      try {
        insert.run(startedAt);
        writes.push({ startedAt, endedAt: Date.now() });
      } catch (err) {
        writes.push({ startedAt, endedAt: Date.now(), error: (err as { code?: string }).code });
      }
    }, 50);

    const child = startCli(["import", exported, "--to", to, "--strategy", "merge", "--json"], { env: { ...ws.env, HOLDFAST_LOG_LEVEL: "info" }, cwd: ws.dir });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    clearInterval(timer);
    app.close();
    expect(code, stderr.slice(-600)).toBe(0);

    const logged = (msg: string): number => {
      const line = stderr.split("\n").map((l) => { try { return JSON.parse(l) as { msg?: string; time?: string }; } catch { return {}; } }).find((l) => l.msg === msg);
      expect(line?.time, `log line "${msg}"`).toBeDefined();
      return Date.parse(line!.time!);
    };
    const staged = logged("table staged");
    const whileStaging = writes.filter((w) => w.endedAt <= staged);
    expect(whileStaging.length, "the staging was too short to overlap the application's writes").toBeGreaterThanOrEqual(5);
    expect(whileStaging.filter((w) => w.error)).toEqual([]);
    const locked = logged("write lock taken");
    expect(locked).toBeGreaterThanOrEqual(staged);
    // Only writes that overlapped the write lock may have waited past their 200 ms.
    expect(writes.filter((w) => w.error && w.endedAt < locked - 50)).toEqual([]);

    expect(JSON.parse(stdout).tables).toEqual([{ name: "items", inserted: ROWS - 10, updated: 10, unchanged: 0, skipped: 0, rejected: 0 }]);
    expect(countRows(to, "items")).toBe(ROWS);
    expect(countRows(to, "events")).toBe(writes.filter((w) => !w.error).length);
    expect(integrity(to)).toBe("ok");
  }, 60_000);
});
