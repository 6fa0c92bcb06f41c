import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { seedApp } from "../support/pg-data.js";
import { shareWithServer, startArchivingCluster, startRestored } from "../support/pitr.js";
import { pgState, runUpgrade } from "./upgrade-support.js";

/**
 * `holdfast upgrade --rollback-point restore-point` on a real cluster archiving into the
 * repository through the built CLI's wal-push: refusals before anything changes, a restore point
 * archived instead of a logical backup, and the way back it names — a point-in-time restore to the
 * restore point, run here and started — giving the database exactly as it was before the upgrade;
 * with --pgdata that way back is taken by itself: the server stopped, restored in place, started.
 */
let ws: Workspace;
let cluster: PgCluster;
beforeAll(async () => {
  ws = await workspace();
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws);
  await seedApp(cluster, "shop", 100);
  await cluster.query("CREATE DATABASE other");
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

async function script(name: string, sql: string): Promise<string> {
  const file = join(ws.dir, `${name}.sql`);
  await writeFile(file, sql);
  return `psql -X -q -v ON_ERROR_STOP=1 -f ${file}`;
}

const columns = (q: (sql: string) => Promise<Record<string, unknown>[]>) => q("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) AS c FROM information_schema.columns WHERE table_name = 'orders'").then((r) => String(r[0]!.c));

describe("upgrade --rollback-point restore-point", () => {
  it("refuses before anything changes: other databases in the cluster, then no base backup", async () => {
    const shared = await runCli(["upgrade", cluster.url("shop"), "--run", "true", "--rollback-point", "restore-point"], { env: ws.env });
    expect(shared.code, shared.stderr).toBe(33);
    expect(errorLine(shared)).toMatch(/^the cluster of .*\/shop\S* also holds other: rolling back to a restore point takes every database of the cluster back$/);
    const noBase = await runCli(["upgrade", cluster.url("shop"), "--run", "true", "--rollback-point", "restore-point", "--whole-cluster"], { env: ws.env });
    expect(noBase.code, noBase.stderr).toBe(33);
    expect(errorLine(noBase)).toMatch(/^no base backup of .* \(system \d+\) can be rolled forward from the archive/);
    expect((await cluster.query("SELECT to_regclass('holdfast_upgrades') AS t", "shop"))[0]!.t).toBeNull();
  }, 60_000);

  it("takes and archives a restore point instead of a backup; a failed upgrade names the restore that goes back to it, which works", async () => {
    const base = await runCli(["backup", "--type", "physical", cluster.url(), "--json"], { env: ws.env });
    expect(base.code, base.stderr).toBe(0);
    const baseId = (JSON.parse(base.stdout) as { id: string }).id;
    const args = [cluster.url("shop"), "--rollback-point", "restore-point", "--whole-cluster"];

    const ok = await runUpgrade(ws, [...args, "--run", await script("ok", "ALTER TABLE orders ADD COLUMN status text DEFAULT 'new';")]);
    expect(ok.result.code, ok.result.stderr).toBe(0);
    const point = (ok.report as unknown as { restorePoint: { name: string; lsn: string; segment: string; baseBackupId: string } }).restorePoint;
    expect(point).toMatchObject({ name: `holdfast-upgrade-${ok.report.runId}`, baseBackupId: baseId });
    expect(ok.report.steps.map((s) => [s.name, s.ok])).toEqual([["prepare upgrade log", true], ["record state", true], ["restore point", true], ["verify base backup", true], ["migrate", true], ["checks", true]]);
    const row = await cluster.query<{ state: string; backup_id: string; detail: string }>(`SELECT state, backup_id, detail FROM holdfast_upgrades WHERE run_id = '${ok.report.runId}'`, "shop");
    expect(row).toEqual([{ state: "succeeded", backup_id: baseId, detail: `restore point ${point.name} at ${point.lsn}` }]);
    const list = JSON.parse((await runCli(["list", "--json"], { env: ws.env })).stdout) as { backups: { id: string }[] };
    expect(list.backups.map((b) => b.id)).toEqual([baseId]);

    const before = { columns: await columns((sql) => cluster.query(sql, "shop")), orders: (await cluster.query("SELECT count(*)::int AS n FROM orders", "shop"))[0]!.n };
    const failing = await runUpgrade(ws, [...args, "--run", await script("bad", "ALTER TABLE orders ADD COLUMN flag int;\nDELETE FROM orders WHERE id % 2 = 0;\nSELECT 1 / 0;")]);
    expect(failing.result.code, failing.result.stderr).toBe(32);
    expect(failing.report.rollback).toMatchObject({ taken: false, proven: false });
    const hint = failing.result.stderr.match(/`holdfast restore (\S+) --type physical --to <new data directory> --target-name (holdfast-upgrade-\S+)`/);
    expect(hint, failing.result.stderr).not.toBeNull();
    expect(hint![1]).toBe(baseId);
    expect(await columns((sql) => cluster.query(sql, "shop"))).toBe(`${before.columns},flag`);

    const dir = join(ws.dir, "back");
    const restored = await runCli(["restore", hint![1]!, "--type", "physical", "--to", dir, "--target-name", hint![2]!], { env: ws.env });
    expect(restored.code, restored.stderr).toBe(0);
    const server = await startRestored(dir);
    try {
      expect(await columns((sql) => server.query(sql, "shop"))).toBe(before.columns);
      expect((await server.query("SELECT count(*)::int AS n FROM orders", "shop"))[0]!.n).toBe(before.orders);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it("with --pgdata rolls back by itself: stops the server, restores it to the restore point in place, starts it, proves it; exit 31", async () => {
    const base = await runCli(["backup", "--type", "physical", cluster.url()], { env: ws.env });
    expect(base.code, base.stderr).toBe(0);
    const args = [cluster.url("shop"), "--rollback-point", "restore-point", "--whole-cluster"];
    const elsewhere = await runCli(["upgrade", ...args, "--pgdata", ws.dir, "--run", "true"], { env: ws.env });
    expect(elsewhere.code, elsewhere.stderr).toBe(33);
    expect(errorLine(elsewhere)).toMatch(/^--pgdata \S+ is not the data directory of the server being upgraded \(it runs on \S+\)$/);

    // A successful upgrade with --pgdata leaves the server alone (and creates the upgrade log, so the state below has it).
    const started = (await cluster.query<{ t: string }>("SELECT pg_postmaster_start_time()::text AS t"))[0]!.t;
    const ok = await runUpgrade(ws, [...args, "--pgdata", cluster.dataDir, "--run", "true"]);
    expect(ok.result.code, ok.result.stderr).toBe(0);
    expect((await cluster.query<{ t: string }>("SELECT pg_postmaster_start_time()::text AS t"))[0]!.t).toBe(started);

    const before = await pgState(cluster, "shop");
    const orders = (await cluster.query("SELECT count(*)::int AS n FROM orders", "shop"))[0]!.n;
    const failing = await runUpgrade(ws, [...args, "--pgdata", cluster.dataDir, "--run", await script("bad2", "ALTER TABLE orders ADD COLUMN flag2 int;\nDELETE FROM orders WHERE id % 3 = 0;\nSELECT 1 / 0;")]);
    expect(failing.result.code, failing.result.stderr).toBe(31);
    expect(failing.report.finalState).toBe("rolled-back");
    expect(failing.report.rollback).toMatchObject({ taken: true, by: "restore-point", proven: true, problems: [] });
    expect(errorLine(failing.result)).toMatch(/^upgrade of .* rolled back: migrate failed: /);
    const point = (failing.report as unknown as { restorePoint: { name: string } }).restorePoint;
    expect(failing.report.steps.at(-1)).toMatchObject({ name: "rollback", ok: true, detail: `restored to restore point ${point.name} and proven equal` });

    // The server was stopped and is up again, as it was before the upgrade (measured here with pg_dump and md5, not Holdfast).
    expect((await cluster.query<{ t: string }>("SELECT pg_postmaster_start_time()::text AS t"))[0]!.t).not.toBe(started);
    expect(await pgState(cluster, "shop")).toEqual(before);
    expect((await cluster.query("SELECT count(*)::int AS n FROM orders", "shop"))[0]!.n).toBe(orders);
    const row = await cluster.query<{ state: string }>(`SELECT state FROM holdfast_upgrades WHERE run_id = '${failing.report.runId}'`, "shop");
    expect(row).toEqual([{ state: "rolled-back" }]);

    // The failed state is kept aside: the data directory the restore replaced.
    const safety = failing.report.rollback.safetyCopy!;
    expect(safety.startsWith(`${cluster.dataDir}.holdfast-safety-`), safety).toBe(true);
    expect((await stat(safety)).isDirectory()).toBe(true);
    expect((await readFile(join(safety, "PG_VERSION"), "utf8")).trim()).toMatch(/^\d+$/);
  }, 120_000);
});
