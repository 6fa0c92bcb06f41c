import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDaemon, type RunningDaemon } from "../support/daemon.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { freePort, metricValue, parseMetrics, waitFor } from "../support/http.js";

/**
 * Scheduled drills in a real daemon (child process) on a real SQLite database: drills run on their
 * own schedule in the database's queue, their records land in the repository, and the drill
 * metrics come from those records: a passing drill, then (objectives tightened by a reload) a
 * failing one that leaves the last success where it was. A database with a drill schedule and no
 * drill yet reports passed 0, never nothing; on start it drills at once (missed), while one whose
 * records are newer than its schedule's last firing does not.
 */
let ws: Workspace;
let base: string;
let config: string;
let daemon: RunningDaemon;

function yaml(rpo: string, missed = false): string {
  return [
    `repo: ${ws.repo}`,
    `passphrase_file: ${ws.passphraseFile}`,
    `state_dir: ${join(ws.dir, "state")}`,
    `tmp_dir: ${ws.dir}`,
    `run_missed_on_start: ${missed}`,
    "http:",
    `  listen: ${base.replace("http://", "")}`,
    "databases:",
    "  app:",
    `    source: "sqlite:${join(ws.dir, "app.db")}"`,
    "    schedule:",
    '      backup: "*/2 * * * * *"',
    "    drill:",
    '      schedule: "*/3 * * * * *"',
    `      targets: { rto: 5m, rpo: ${rpo} }`,
    "  idle:",
    `    source: "sqlite:${join(ws.dir, "idle.db")}"`,
    "    drill:",
    '      schedule: "0 0 4 1 1 *"',
  ].join("\n");
}

async function metrics(): Promise<ReturnType<typeof parseMetrics>> {
  return parseMetrics(await (await fetch(base + "/metrics")).text());
}

async function drills(): Promise<{ id: string; database: string; verdict: string; finishedAt: string; rtoMs?: number; rpo: { ms?: number }; targets: { rpoMs?: number } }[]> {
  const r = await runCli(["drills", "--json", "--config", config], { env: { ...ws.env, HOLDFAST_REPO: undefined, HOLDFAST_PASSPHRASE_FILE: undefined } });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).drills;
}


beforeAll(async () => {
  ws = await workspace();
  createDatabase(join(ws.dir, "app.db"), 500);
  createDatabase(join(ws.dir, "idle.db"), 10);
  base = `http://127.0.0.1:${await freePort()}`;
  config = join(ws.dir, "holdfast.yaml");
  await writeFile(config, yaml("1h"));
  daemon = await startDaemon(config);
}, 60_000);

afterAll(async () => {
  daemon?.kill();
  await ws?.cleanup();
});

describe("holdfast daemon: scheduled drills", () => {
  it("a scheduled drill passes: recorded in the repository, and /metrics shows its RTO, RPO, success time and passed 1", async () => {
    await waitFor("a passing drill on /metrics", async () => metricValue(await metrics(), "holdfast_drill_passed", { database: "app" }) === 1, 30_000);
    const samples = await metrics();
    const history = await drills();
    const newest = history.find((d) => d.database === "app")!;
    expect(newest).toMatchObject({ verdict: "PASS", targets: { rpoMs: 3_600_000 } });
    const value = (name: string, database = "app") => metricValue(samples, name, { database });
    expect(value("holdfast_drill_rto_seconds")).toBeGreaterThan(0);
    expect(value("holdfast_drill_rto_seconds")).toBeLessThan(300);
    expect(value("holdfast_drill_rpo_seconds")).toBeGreaterThan(0);
    expect(value("holdfast_drill_rpo_target_seconds")).toBe(3600);
    expect(Math.abs(value("holdfast_drill_last_success_timestamp_seconds")! - Date.now() / 1000)).toBeLessThan(30);
    expect(metricValue(samples, "holdfast_jobs_total", { database: "app", job: "drill", result: "success" })).toBeGreaterThanOrEqual(1);
    // Scheduled, never drilled: passed 0 (an alert on "not 1" fires), and no success time.
    expect(value("holdfast_drill_passed", "idle")).toBe(0);
    expect(value("holdfast_drill_last_success_timestamp_seconds", "idle")).toBeUndefined();
    expect(value("holdfast_drill_rto_seconds", "idle")).toBeUndefined();

    const status = await runCli(["status", "--json", "--config", config], { env: { ...ws.env, HOLDFAST_REPO: undefined, HOLDFAST_PASSPHRASE_FILE: undefined } });
    expect(status.code, status.stderr).toBe(0);
    const app = JSON.parse(status.stdout).databases.find((d: { name: string }) => d.name === "app");
    expect(app.lastDrill.verdict).toBe("PASS");
    expect(app.lastDrill.rtoMs).toBeGreaterThan(0);
    expect(app.nextRuns.drill).toBeDefined();
    const table = await runCli(["status", "--config", config], { env: { ...ws.env, HOLDFAST_REPO: undefined, HOLDFAST_PASSPHRASE_FILE: undefined } });
    expect(table.stdout).toMatch(/LAST DRILL\n/);
    expect(table.stdout).toMatch(/^app\s.*\sPASS \d+s ago$/m);
    expect(table.stdout).toMatch(/^idle\s.*\snever$/m);
  });

  it("an objective that cannot be met (RPO 1 ms): the next drill fails, passed 0, and the last success stays that of the newest passing drill", async () => {
    await writeFile(config, yaml("1ms"));
    daemon.child.kill("SIGHUP");
    await waitFor("the reload", () => daemon.stderr.includes("config reloaded"), 15_000);
    await waitFor("a failing drill on /metrics", async () => metricValue(await metrics(), "holdfast_drill_passed", { database: "app" }) === 0, 30_000);
    // A drill runs every 3 s: take a view in which /metrics shows the newest drill record (the record is written first).
    const { samples, history } = await waitFor("/metrics showing the newest drill record", async () => {
      const samples = await metrics();
      const history = (await drills()).filter((d) => d.database === "app");
      const shown = (name: string, ms: number | undefined) => metricValue(samples, name, { database: "app" }) === ms! / 1000;
      return shown("holdfast_drill_rto_seconds", history[0]?.rtoMs) && shown("holdfast_drill_rpo_seconds", history[0]?.rpo.ms) ? { samples, history } : undefined;
    }, 20_000);
    expect(history[0]).toMatchObject({ verdict: "FAIL", targets: { rpoMs: 1 } });
    const lastPass = history.find((d) => d.verdict === "PASS")!;
    const lastSuccess = metricValue(samples, "holdfast_drill_last_success_timestamp_seconds", { database: "app" })!;
    expect(lastSuccess).toBe(Date.parse(lastPass.finishedAt) / 1000);
    expect(Date.parse(history[0]!.finishedAt)).toBeGreaterThan(Date.parse(lastPass.finishedAt));
    expect(metricValue(samples, "holdfast_jobs_total", { database: "app", job: "drill", result: "failure" })).toBeGreaterThanOrEqual(1);
    expect(metricValue(samples, "holdfast_last_job_failed", { database: "app", job: "drill" })).toBe(1);
    expect(daemon.stderr).toMatch(/job failed: drill \S+ of \S+: FAIL: .*RPO/);
  });

  it("SIGTERM waits for a running drill and exits 0, leaving no scratch behind", async () => {
    expect(await daemon.stop()).toBe(0);
    expect(daemon.stderr).toContain("daemon stopped");
    expect((await readdir(ws.dir)).filter((n) => n.startsWith("holdfast-drill-"))).toEqual([]);
  });

  it("missed on start: a database without any drill record drills at once; one drilled since its schedule last fired does not", async () => {
    // Both schedules yearly (last fired on 1 January): app's records are newer, idle has none.
    await writeFile(config, yaml("1h", true).replace('"*/3 * * * * *"', '"0 0 4 1 1 *"').replace('"*/2 * * * * *"', '"0 0 3 1 1 *"'));
    // Without the daemon's own memory of last runs, the drill records in the repository decide.
    await rm(join(ws.dir, "state"), { recursive: true, force: true });
    daemon = await startDaemon(config);
    // idle has no backup to drill: its drill job runs and fails (BACKUP_NOT_FOUND), as it should.
    await waitFor("idle's drill on start", async () => metricValue(await metrics(), "holdfast_last_job_failed", { database: "idle", job: "drill" }) === 1, 20_000);
    expect(daemon.stderr).toMatch(/job failed: no full backup of sqlite:.*idle\.db/);
    const samples = await metrics();
    expect(metricValue(samples, "holdfast_jobs_total", { database: "app", job: "drill", result: "success" })).toBeUndefined();
    expect(metricValue(samples, "holdfast_jobs_total", { database: "app", job: "drill", result: "failure" })).toBeUndefined();
    expect(metricValue(samples, "holdfast_drill_passed", { database: "app" })).toBe(0); // read back from the records: the newest FAILed
    expect(await daemon.stop()).toBe(0);
  });
});
