import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { sealed } from "../../src/repository/json-object.js";
import { EXIT_CODES } from "../../src/errors.js";
import { errorLine, runCli, startCli, workspace, type Workspace } from "../support/cli.js";
import { flipByte } from "../support/damage.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";

/**
 * `holdfast drill` on real PostgreSQL logical backups: the drill restores into a scratch database
 * it names on the server, proves it (write probe, row counts and content checksums, sequences,
 * smoke SQL), measures an RPO that covers the writes made after the backup, fails a sequence left
 * behind its column, and a drill killed mid-way leaves a database the next drill drops.
 */
let ws: Workspace;
let pg: PgCluster;

const scratchDatabases = async () => (await pg.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'holdfast_drill_%'")).map((r) => r.datname);

async function backupOf(db: string): Promise<string> {
  const r = await runCli(["backup", pg.url(db), "--json"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).id as string;
}

beforeAll(async () => {
  [ws, pg] = await Promise.all([workspace(), startCluster()]);
  await pg.query("CREATE DATABASE app");
  await pg.query("CREATE TABLE orders (id serial PRIMARY KEY, note text NOT NULL); INSERT INTO orders (note) SELECT 'n' || g FROM generate_series(1, 500) g", "app");
}, 60_000);
afterAll(async () => {
  await pg?.destroy();
  await ws?.cleanup();
});

describe("holdfast drill (PostgreSQL logical)", () => {
  it("passes on a good backup, and its RPO covers the writes made after it (write, back up, wait, write more, drill --latest)", async () => {
    const id = await backupOf("app");
    await sleep(2500);
    await pg.query("INSERT INTO orders (note) VALUES ('after the backup')", "app");
    const r = await runCli(["drill", pg.url("app"), "--latest", "--rpo", "1h", "--rto", "10m", "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec).toMatchObject({ verdict: "PASS", engine: "postgres", backupId: id, requested: { kind: "latest" } });
    expect(rec.rpo.ms).toBeGreaterThanOrEqual(2500);
    expect(rec.rpo.ms).toBeLessThan(60_000);
    expect(rec.checks.find((c: { layer: string }) => c.layer === "tables")).toMatchObject({ name: "public.orders", status: "pass", detail: "500 rows, manifest 500; content checksum matches" });
    expect(rec.checks.find((c: { layer: string }) => c.layer === "sequences")).toMatchObject({ name: "orders_id_seq", status: "pass", detail: "next value 501, largest orders.id 500" });
    expect(rec.scratch).toMatch(/\/holdfast_drill_[0-9a-f]{6}_\d+_[0-9a-f]{6}(\?|$)/);
    expect(await scratchDatabases()).toEqual([]);
  });

  it("fails when a sequence would hand out an id that is already taken", async () => {
    await pg.query("CREATE DATABASE lagging");
    await pg.query("CREATE TABLE t (id serial PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 20); SELECT setval('t_id_seq', 5)", "lagging");
    await backupOf("lagging");
    const r = await runCli(["drill", pg.url("lagging"), "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(EXIT_CODES.DRILL_FAILED);
    expect(errorLine(r)).toMatch(/FAILED: sequences t_id_seq: next value 6, largest t\.id 20/);
    expect(await scratchDatabases()).toEqual([]);
  });

  it("fails on a manifest whose row counts differ, and on a damaged stored file, naming each", async () => {
    await pg.query("CREATE DATABASE audited");
    await pg.query("CREATE TABLE ledger (id serial PRIMARY KEY, amount int); INSERT INTO ledger (amount) SELECT g FROM generate_series(1, 40) g", "audited");
    const id = await backupOf("audited");
    const path = join(ws.repo, "backups", id, "manifest.json");
    const original = await readFile(path, "utf8");
    const m = JSON.parse(original) as { files: { key: string }[]; tables: { name: string; rows: number }[] };
    await writeFile(path, JSON.stringify(sealed({ ...m, tables: m.tables.map((t) => ({ ...t, rows: t.rows + 3 })) }), null, 2) + "\n");
    const rows = await runCli(["drill", pg.url("audited"), "--json"], { env: ws.env });
    expect(rows.code, rows.stderr).toBe(EXIT_CODES.DRILL_FAILED);
    expect(errorLine(rows)).toMatch(/FAILED: tables public\.ledger: 40 rows, manifest 43/);
    await writeFile(path, original);

    const key = m.files[0]!.key;
    await flipByte(join(ws.repo, key), 40);
    const damaged = await runCli(["drill", pg.url("audited"), "--json"], { env: ws.env });
    expect(damaged.code, damaged.stderr).toBe(EXIT_CODES.DRILL_FAILED);
    const rec = JSON.parse(damaged.stdout);
    expect(rec.reasons[0]).toBe(`restore fetch phase: stored file ${ws.repo}/${key} is damaged: its SHA-256 differs from the manifest's`);
    expect(rec.rtoMs).toBeUndefined();
    expect(await scratchDatabases()).toEqual([]);
  });

  it("a drill killed mid-way leaves its scratch database; the next drill drops it", async () => {
    await pg.query("CREATE DATABASE big");
    await pg.query("CREATE TABLE rows (id bigserial PRIMARY KEY, body text); INSERT INTO rows (body) SELECT repeat(md5(g::text), 8) FROM generate_series(1, 300000) g", "big");
    await backupOf("big");
    const child = startCli(["drill", pg.url("big")], { env: ws.env });
    child.stdin!.end();
    const deadline = Date.now() + 30_000;
    while ((await scratchDatabases()).length === 0 && Date.now() < deadline) await sleep(20);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    const left = await scratchDatabases();
    expect(left).toHaveLength(1);

    const next = await runCli(["drill", pg.url("app"), "--json"], { env: ws.env });
    expect(next.code, next.stderr).toBe(0);
    expect(await scratchDatabases()).toEqual([]);
  });
});
