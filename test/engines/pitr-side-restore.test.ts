import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { shareWithServer, startArchivingCluster, startRestored, switchAndWaitArchived } from "../support/pitr.js";

/**
 * A point-in-time restore into a side directory leaves production alone: the restored cluster
 * does not archive (during recovery, and after a later `pg_ctl start`), so its new timeline never
 * reaches the repository, and a later restore to latest still follows production's timeline.
 */
let ws: Workspace;
let cluster: PgCluster;
let beforeBatch3: string;

const ids = async (q: (sql: string) => Promise<Record<string, unknown>[]>) => (await q("SELECT id FROM events ORDER BY id")).map((r) => Number(r.id));
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const insert = (a: number, b: number, batch: number) => cluster.query(`INSERT INTO events (id, batch) SELECT g, ${batch} FROM generate_series(${a}, ${b}) g`);

beforeAll(async () => {
  ws = await workspace();
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws, { lean: true });
  await cluster.query("CREATE TABLE events (id int PRIMARY KEY, batch int NOT NULL)");
  await insert(1, 10, 1);
  const b = await runCli(["backup", "--type", "physical", cluster.url()], { env: ws.env });
  expect(b.code, b.stderr).toBe(0);
  await insert(11, 20, 2);
  await sleep(300);
  beforeBatch3 = (await cluster.query<{ now: Date }>("SELECT clock_timestamp() AS now"))[0]!.now.toISOString();
  await sleep(300);
  await insert(21, 30, 3);
  await switchAndWaitArchived((sql) => cluster.query(sql));
});
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("a side restore leaves production alone", () => {
  it("restores to a past time with archiving off, recorded in postgresql.auto.conf, and the started copy archives nothing", async () => {
    const side = join(ws.dir, "side");
    const r = await runCli(["restore", "--type", "physical", "--to", side, "--target-time", beforeBatch3, "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const auto = await readFile(join(side, "postgresql.auto.conf"), "utf8");
    expect(auto).toMatch(/^archive_mode = 'off'$/m);
    expect(auto).toMatch(/# .*restore with --archive/);
    // Recovery followed the timeline Holdfast checked, by number (not whatever "latest" finds).
    expect(auto).toMatch(/recovery_target_timeline = '1'/);

    const server = await startRestored(side);
    try {
      expect(await ids((sql) => server.query(sql))).toEqual(range(1, 20));
      expect(await server.query("SHOW archive_mode")).toEqual([{ archive_mode: "off" }]);
      // The side copy is written to and switches WAL: with archiving on this would reach the repository.
      await server.query("INSERT INTO events (id, batch) SELECT g, 9 FROM generate_series(1001, 1005) g");
      await server.query("SELECT pg_switch_wal()");
      await server.query("INSERT INTO events (id, batch) VALUES (1006, 9)");
      await server.query("SELECT pg_switch_wal()");
      await sleep(1500);
      const [archiver] = await server.query<{ archived_count: string; failed_count: string }>("SELECT archived_count, failed_count FROM pg_stat_archiver");
      expect(archiver).toEqual({ archived_count: "0", failed_count: "0" });
    } finally {
      await server.stop();
    }
    expect(await readdir(join(ws.repo, "wal"))).toEqual(["00000001"]);
  });

  it("a later restore to latest has production's newest rows and none of the side copy's; wal verify shows one timeline", async () => {
    await insert(31, 40, 4);
    await switchAndWaitArchived((sql) => cluster.query(sql));
    const dir = join(ws.dir, "latest");
    const r = await runCli(["restore", "--type", "physical", "--to", dir, "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const server = await startRestored(dir);
    try {
      expect(await ids((sql) => server.query(sql))).toEqual(range(1, 40));
    } finally {
      await server.stop();
    }
    const v = await runCli(["wal", "verify", "--json"], { env: ws.env });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).timelines.map((t: { timeline: number }) => t.timeline)).toEqual([1]);
  });

  it("--archive (a real failover) leaves archiving as the backup had it", async () => {
    const dir = join(ws.dir, "failover");
    const r = await runCli(["restore", "--type", "physical", "--to", dir, "--archive", "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const auto = await readFile(join(dir, "postgresql.auto.conf"), "utf8");
    expect(auto).not.toMatch(/archive_mode = 'off'/);
    // Promotion archived the new timeline's history file: this restore was meant to take over.
    expect((await readdir(join(ws.repo, "wal"))).length).toBeGreaterThan(1);
  });
});
