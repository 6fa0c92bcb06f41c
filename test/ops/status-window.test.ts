import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import pino from "pino";
import { Daemon } from "../../dist/daemon/daemon.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { freePort, metricValue, parseMetrics } from "../support/http.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { loseArchivedSegment, shareWithServer, startArchivingCluster, switchAndWaitArchived } from "../support/pitr.js";
import { createDatabase } from "../support/sqlite.js";

/**
 * One recovery window for `status`, `wal verify` and the daemon's metrics, on a real archive
 * where a lost segment cuts the older base backup off from the present; and `status` without a
 * databases: section, listing what the repository holds.
 */
let ws: Workspace;
let cluster: PgCluster;
let lost: string;
let before: { id: string; consistentAt: string; source: string };
let after: { id: string; consistentAt: string; source: string };
let sqliteSource: string;

async function cli(args: string[]): Promise<string> {
  const r = await runCli(args, { env: ws.env });
  if (r.code !== 0) throw new Error(`holdfast ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function physicalBackup(): Promise<{ id: string; consistentAt: string; source: string }> {
  const m = JSON.parse(await cli(["backup", "--type", "physical", cluster.url(), "--json"]));
  return { id: m.id, consistentAt: m.details.consistentAt, source: m.source.uri };
}

beforeAll(async () => {
  ws = await workspace();
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws, { lean: true });
  const q = (sql: string) => cluster.query(sql);
  await q("CREATE TABLE t (id int)");
  before = await physicalBackup();
  await q("INSERT INTO t VALUES (1)");
  await switchAndWaitArchived(q);
  await q("INSERT INTO t VALUES (2)");
  lost = await switchAndWaitArchived(q);
  // The loss: record and data of one segment between the two base backups.
  await loseArchivedSegment(ws, lost);
  after = await physicalBackup();
  await q("INSERT INTO t VALUES (3)");
  await switchAndWaitArchived(q);
  await cli(["backup", "--schema-only", cluster.url()]);
  const db = join(ws.dir, "app.db");
  createDatabase(db, 50);
  await cli(["backup", `sqlite:${db}`]);
  await cli(["backup", `sqlite:${db}`]);
  sqliteSource = JSON.parse(await cli(["show", "latest", "--source", `sqlite:${db}`, "--json"])).source.uri;
});
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("the recovery window when a WAL gap cuts off an older base backup", () => {
  it("wal verify and status report the same window, starting at the first base backup after the gap", async () => {
    const v = await runCli(["wal", "verify", "--json"], { env: ws.env });
    expect(v.code).toBe(16); // the gap is a problem of the archive
    const report = JSON.parse(v.stdout);
    // The older base backup is still restorable on its own, but its WAL stops at the gap.
    expect(report.backups.find((b: { backupId: string }) => b.backupId === before.id)).toMatchObject({ consistent: true, missing: lost });
    const walWindow = report.window;
    expect(walWindow).toMatchObject({ from: after.consistentAt, baseBackups: 1, earliest: { backupId: after.id }, latest: { backupId: after.id, timeline: 1 } });
    expect(walWindow.latest.segment > lost).toBe(true);
    expect(Date.parse(walWindow.to)).toBeGreaterThan(Date.parse(after.consistentAt));

    const s = JSON.parse(await cli(["status", "--json"]));
    const pg = s.databases.find((d: { source: string }) => d.source === after.source);
    expect(pg.recoveryWindow).toEqual(walWindow);
  });

  it("the daemon's gauges show that window too", async () => {
    const port = await freePort();
    const path = join(ws.dir, "daemon.yaml");
    await writeFile(path, [`repo: ${ws.repo}`, `passphrase_file: ${ws.passphraseFile}`, `state_dir: ${join(ws.dir, "state")}`, "run_missed_on_start: false", "http:", `  listen: 127.0.0.1:${port}`, "databases:", "  main:", `    source: "${cluster.url()}"`, "    schedule:", '      verify: "0 3 * * *"'].join("\n"));
    const daemon = await Daemon.start(path, pino({ level: "silent" }));
    try {
      const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      const status = JSON.parse(await cli(["status", "--json", "--config", path])).databases[0];
      expect(metricValue(samples, "holdfast_recovery_window_start_timestamp_seconds", { database: "main" })).toBe(Date.parse(after.consistentAt) / 1000);
      expect(metricValue(samples, "holdfast_recovery_window_end_timestamp_seconds", { database: "main" })).toBe(Date.parse(status.recoveryWindow.to) / 1000);
    } finally {
      await daemon.stop();
    }
  });
});

describe("status without a databases: section", () => {
  it("shows every source in the repository: newest full backup, age, backups by kind, recovery window", async () => {
    const r = await runCli(["status", "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const { databases } = JSON.parse(r.stdout);
    expect(databases.map((d: { source: string }) => d.source).sort()).toEqual([after.source, sqliteSource].sort());
    const pg = databases.find((d: { source: string }) => d.source !== sqliteSource);
    expect(pg).toMatchObject({ configured: false, backups: 3, kinds: { full: 2, "schema-only": 1 }, newest: { id: after.id }, stale: false });
    const lite = databases.find((d: { source: string }) => d.source === sqliteSource);
    expect(lite).toMatchObject({ name: sqliteSource, configured: false, backups: 2, kinds: { full: 2 }, stale: false });
    expect(lite.newest.ageMs).toBeGreaterThanOrEqual(0);
    expect(lite.recoveryWindow).toBeUndefined();

    const text = await cli(["status"]);
    expect(text).toMatch(new RegExp(`${sqliteSource.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\s+\\S+\\s+\\d+s\\s`));
    expect(text).toMatch(/3 \(2 full, 1 schema-only\)/);
    expect(text).toContain(`${after.consistentAt.slice(0, 16)} → `);
  });

  it("selects a source by name and names the sources it has when asked for another", async () => {
    const one = JSON.parse(await cli(["status", sqliteSource, "--json"]));
    expect(one.databases.map((d: { name: string }) => d.name)).toEqual([sqliteSource]);
    const bad = await runCli(["status", "nosuch"], { env: ws.env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(sqliteSource);
  });

  it("says so when the repository holds nothing yet", async () => {
    const empty = join(ws.dir, "empty-repo");
    await cli(["repo", "init", empty, "--encryption", "none"]);
    expect((await cli(["status", "--repo", empty])).trim()).toBe(`no backups in ${empty} and no databases configured`);
  });
});
