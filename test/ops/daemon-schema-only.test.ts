import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import pino from "pino";
import { Daemon } from "../../dist/daemon/daemon.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { freePort, metricValue, parseMetrics } from "../support/http.js";

/**
 * A schema-only backup is a kind of its own: `list` marks it, and it never stands in for the
 * database's last full backup in `status`, in /metrics or in /health/backup.
 */
let ws: Workspace;
let pg: PgCluster;
let config: string;
let port: number;
let full: { id: string; finishedAt: string };
let schemaOnly: string;
let schemaOnlyOfFresh: string;

async function backup(args: string[]): Promise<{ id: string; finishedAt: string }> {
  const r = await runCli(["backup", ...args, "--json"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  [ws, pg] = await Promise.all([workspace(), startCluster()]);
  for (const db of ["app", "fresh"]) {
    await pg.query(`CREATE DATABASE ${db}`);
    await pg.query("CREATE TABLE items (id int PRIMARY KEY, body text); INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 500) i", db);
  }
  full = await backup([pg.url("app")]);
  schemaOnly = (await backup([pg.url("app"), "--schema-only"])).id;
  schemaOnlyOfFresh = (await backup([pg.url("fresh"), "--schema-only"])).id; // a database with no full backup at all
  port = await freePort();
  config = join(ws.dir, "holdfast.yaml");
  await writeFile(
    config,
    [
      `repo: ${ws.repo}`,
      `passphrase_file: ${ws.passphraseFile}`,
      `state_dir: ${join(ws.dir, "state")}`,
      "run_missed_on_start: false",
      "http:",
      `  listen: 127.0.0.1:${port}`,
      "databases:",
      ...["app", "fresh"].flatMap((db) => [`  ${db}:`, `    source: "${pg.url(db)}"`, "    stale_after: 1h", "    schedule:", '      backup: "0 2 * * *"']),
    ].join("\n"),
  );
}, 120_000);

afterAll(async () => {
  await pg?.destroy();
  await ws?.cleanup();
});

describe("schema-only backups", () => {
  it("list marks them as schema-only", async () => {
    const r = await runCli(["list"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const kindOf = (id: string) => r.stdout.split("\n").find((l) => l.startsWith(id))?.split(/\s{2,}/)[1];
    expect(kindOf(full.id)).toBe("full");
    expect(kindOf(schemaOnly)).toBe("schema-only");
    expect(kindOf(schemaOnlyOfFresh)).toBe("schema-only");
  });

  it("status shows the newest full backup, never a newer schema-only one", async () => {
    const r = await runCli(["status", "--config", config, "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const byName = Object.fromEntries(JSON.parse(r.stdout).databases.map((d: { name: string }) => [d.name, d]));
    expect(byName.app).toMatchObject({ newest: { id: full.id, finishedAt: full.finishedAt }, stale: false, backups: 2 });
    expect(byName.fresh.newest).toBeUndefined();
    expect(byName.fresh).toMatchObject({ stale: true, backups: 1 });
    const text = await runCli(["status", "--config", config], { env: ws.env });
    expect(text.stdout).toMatch(new RegExp(`^app\\s+${full.id}\\s`, "m"));
    expect(text.stdout).toMatch(/^fresh\s+never\s+STALE/m);
    expect(text.stdout).not.toContain(schemaOnly);
  });

  it("the daemon's metrics and /health/backup count full backups only", async () => {
    const daemon = await Daemon.start(config, pino({ level: "silent" }));
    try {
      const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      expect(metricValue(samples, "holdfast_last_success_timestamp_seconds", { database: "app" })).toBe(Date.parse(full.finishedAt) / 1000);
      expect(metricValue(samples, "holdfast_last_success_timestamp_seconds", { database: "fresh" })).toBeUndefined();
      expect(metricValue(samples, "holdfast_backup_stale", { database: "app" })).toBe(0);
      expect(metricValue(samples, "holdfast_backup_stale", { database: "fresh" })).toBe(1);
      const health = await fetch(`http://127.0.0.1:${port}/health/backup?database=fresh`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ ok: false, databases: [{ name: "fresh", reasons: ["no backup yet"] }] });
      const app = await fetch(`http://127.0.0.1:${port}/health/backup?database=app`);
      expect(await app.json()).toMatchObject({ ok: true, databases: [{ name: "app", newestBackup: full.id }] });
    } finally {
      await daemon.stop();
    }
  });
});
