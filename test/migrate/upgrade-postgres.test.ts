import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { runCli, startCli, workspace, errorLine, type Workspace } from "../support/cli.js";
import { startReceiver } from "../support/http.js";
import { seedApp } from "../support/pg-data.js";
import { expectStep, pgState, runUpgrade } from "./upgrade-support.js";

/**
 * `holdfast upgrade` on a real PostgreSQL cluster with external runners (psql scripts): success
 * with checks; a runner failing halfway, a failing assertion and a failing health URL each end
 * with the database equal to its state before (measured with pg_dump and md5, not Holdfast's own
 * code); kill -9 in the middle leaves a backup that restores, and the next upgrade says so.
 */
let pg: PgCluster;
let ws: Workspace;

beforeAll(async () => {
  pg = await startCluster();
  ws = await workspace();
}, 120_000);
afterAll(async () => {
  await pg?.destroy();
  await ws?.cleanup();
});

async function script(name: string, sql: string): Promise<string> {
  const file = join(ws.dir, `${name}.sql`);
  await writeFile(file, sql);
  return `psql -X -q -v ON_ERROR_STOP=1 -f ${file}`;
}

/**
 * A seeded database that has had one upgrade already (a no-op): its holdfast_upgrades table, which
 * the first upgrade creates before its backup, is part of the state "before" the tests compare.
 */
async function seeded(db: string, rows: number): Promise<void> {
  await seedApp(pg, db, rows);
  const warmUp = await runUpgrade(ws, [pg.url(db), "--run", "true"]);
  expect(warmUp.result.code, warmUp.result.stderr).toBe(0);
}

const ADD_EMAIL = `ALTER TABLE customers ADD COLUMN email text;
UPDATE customers SET email = 'c' || id || '@example.com';
CREATE INDEX customers_email ON customers (email);
UPDATE alembic_version SET version_num = '5a0b1c2d3e4f';`;

describe("holdfast upgrade (PostgreSQL)", () => {
  it("migrates, passes its checks and reports the verified backup", async () => {
    await seedApp(pg, "up_ok", 200);
    const checks = join(ws.dir, "ok-checks.sql");
    await writeFile(checks, "-- every customer has an email\nSELECT count(*) = 0 FROM customers WHERE email IS NULL;\n-- orders kept\nSELECT count(*) FROM orders;\n");
    const { result, report } = await runUpgrade(ws, [pg.url("up_ok"), "--run", await script("ok", ADD_EMAIL), "--checks", checks]);
    expect(result.code, result.stderr).toBe(0);
    expect(report.finalState).toBe("upgraded");
    expect(report.versionBefore).toBe("4f2a9c1e77b0");
    expect(report.versionAfter).toBe("5a0b1c2d3e4f");
    for (const s of ["backup", "verify backup", "migrate", "checks"]) expectStep(report, s, true);
    expect(report.checks.map((c) => [c.kind, c.ok])).toEqual([["assertion", true], ["assertion", true], ["unchanged-rows", true], ["foreign-keys", true]]);
    expect(report.checks[2]!.detail).toMatch(/touched: .*public\.alembic_version.*public\.customers/);
    const shown = JSON.parse((await runCli(["show", report.backupId, "--json"], { env: ws.env })).stdout) as { kind: string; labels: Record<string, string> };
    expect(shown.kind).toBe("full");
    expect(shown.labels.upgrade).toBe(report.runId);
    const log = await pg.query<{ state: string; backup_id: string }>("SELECT state, backup_id FROM holdfast_upgrades", "up_ok");
    expect(log).toEqual([{ state: "succeeded", backup_id: report.backupId }]);
  }, 60_000);

  it("a runner failing halfway: restored in place, schema dump and every table equal to before", async () => {
    await seeded("up_half", 200);
    const before = await pgState(pg, "up_half");
    const halfway = await script("half", `${ADD_EMAIL}\nDELETE FROM audit_log;\nCREATE TABLE teams (id int);\nSELECT 1 / 0;\nALTER TABLE orders ADD COLUMN never int;`);
    const { result, report } = await runUpgrade(ws, [pg.url("up_half"), "--run", halfway, "--terminate-timeout", "1"]);
    expect(result.code, result.stderr).toBe(31);
    expect(errorLine(result)).toMatch(/rolled back: migrate failed: .*exited with status 3/);
    expect(report.finalState).toBe("rolled-back");
    expect(report.failure?.step).toBe("migrate");
    expect(report.runnerOutput).toMatch(/division by zero/);
    expect(report.rollback).toMatchObject({ taken: true, proven: true, problems: [] });
    expect(report.rollback.safetyBackupId).toMatch(/^\d{8}T\d{6}Z/);
    expect(await pgState(pg, "up_half")).toEqual(before);
    const log = await pg.query<{ state: string; detail: string }>(`SELECT state, detail FROM holdfast_upgrades WHERE run_id = '${report.runId}'`, "up_half");
    expect(log).toHaveLength(1);
    expect(log[0]!.state).toBe("rolled-back");
    expect(log[0]!.detail).toMatch(/^migrate: /);
  }, 60_000);

  it("a failing assertion and a health URL answering 503 each roll back", async () => {
    await seeded("up_checks", 100);
    const before = await pgState(pg, "up_checks");
    const checks = join(ws.dir, "strict-checks.sql");
    await writeFile(checks, "-- no order lost its note\nSELECT NOT EXISTS (SELECT 1 FROM orders WHERE note IS NULL);\n");
    const nullNotes = await script("null-notes", `ALTER TABLE orders ADD COLUMN status text DEFAULT 'new';\nUPDATE orders SET note = NULL WHERE id % 10 = 0;`);
    const failed = await runUpgrade(ws, [pg.url("up_checks"), "--run", nullNotes, "--checks", checks, "--terminate-timeout", "1"]);
    expect(failed.result.code, failed.result.stderr).toBe(31);
    expect(failed.report.checks.find((c) => c.kind === "assertion")).toMatchObject({ name: "no order lost its note", ok: false, detail: "returned false" });
    expect(failed.report.rollback.proven).toBe(true);
    expect(await pgState(pg, "up_checks")).toEqual(before);

    const health = await startReceiver(503);
    try {
      const ok = await script("harmless", "ALTER TABLE orders ADD COLUMN status text DEFAULT 'new';");
      const r = await runUpgrade(ws, [pg.url("up_checks"), "--run", ok, "--health-url", health.url, "--health-tries", "2", "--health-interval", "100ms", "--terminate-timeout", "1"]);
      expect(r.result.code, r.result.stderr).toBe(31);
      expect(r.report.checks.find((c) => c.kind === "health")).toMatchObject({ ok: false, detail: "answered 503 (2 tries)" });
      expect(health.bodies.length).toBe(2);
      expect(await pgState(pg, "up_checks")).toEqual(before);
    } finally {
      await health.close();
    }
  }, 90_000);

  it("kill -9 during the runner: the backup restores in place, and the next upgrade names the unfinished one", async () => {
    await seeded("up_kill", 100);
    const before = await pgState(pg, "up_kill");
    const pidFile = join(ws.dir, "runner.pid");
    const slow = await script("slow", "ALTER TABLE orders ADD COLUMN flag int;\nDELETE FROM audit_log;");
    const child = startCli(["upgrade", pg.url("up_kill"), "--run", `echo $$ > ${pidFile}; ${slow} && sleep 60`], { env: ws.env });
    let running: { run_id: string; backup_id: string }[] = [];
    for (let i = 0; i < 200 && running.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      running = await pg.query<{ run_id: string; backup_id: string }>("SELECT run_id, backup_id FROM holdfast_upgrades WHERE state = 'running'", "up_kill").catch(() => []);
    }
    expect(running).toHaveLength(1);
    for (let i = 0; i < 100 && (await pg.query("SELECT 1 FROM information_schema.columns WHERE column_name = 'flag'", "up_kill")).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    // The runner outlives holdfast (documented); stop it as an operator would.
    process.kill(-Number((await readFile(pidFile, "utf8")).trim()), "SIGKILL");
    expect(await pgState(pg, "up_kill")).not.toEqual(before);

    const next = await runCli(["upgrade", pg.url("up_kill"), "--run", "true"], { env: ws.env });
    expect(next.code, next.stderr).toBe(33);
    expect(errorLine(next)).toMatch(new RegExp(`upgrade ${running[0]!.run_id} of .* never finished`));
    expect(next.stderr).toContain(`holdfast restore ${running[0]!.backup_id} --in-place`);

    const restored = await runCli(["restore", running[0]!.backup_id, "--in-place", "--terminate-timeout", "1"], { env: ws.env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await pgState(pg, "up_kill")).toEqual(before);
    const again = await runUpgrade(ws, [pg.url("up_kill"), "--run", await script("again", "ALTER TABLE orders ADD COLUMN flag int;")]);
    expect(again.result.code, again.result.stderr).toBe(0);
  }, 90_000);
});
