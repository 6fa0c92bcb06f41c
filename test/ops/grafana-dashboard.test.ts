import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { startDaemon, type RunningDaemon } from "../support/daemon.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { freePort, metricValue, parseMetrics, waitFor } from "../support/http.js";

/**
 * deploy/grafana/holdfast-dashboard.json against real data: a real daemon (child process) backs up,
 * verifies, copies offsite and drills two SQLite databases on second schedules, with one WAL
 * history file archived; a real Prometheus scrapes it every second, and every panel's query,
 * with Grafana's variables substituted, must return data through Prometheus's HTTP API.
 */
const DASHBOARD = resolve(import.meta.dirname, "../../deploy/grafana/holdfast-dashboard.json");

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string; refId: string }[];
}
interface Dashboard {
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string }; allValue?: string }[] };
}

let ws: Workspace;
let daemon: RunningDaemon;
let prometheus: ChildProcess;
let metricsUrl: string;
let promUrl: string;
let promLog = "";

function config(listen: string): string {
  return [
    `repo: ${ws.repo}`,
    `passphrase_file: ${ws.passphraseFile}`,
    `state_dir: ${join(ws.dir, "state")}`,
    `tmp_dir: ${ws.dir}`,
    `copy_to: ${join(ws.dir, "offsite")}`,
    "http:",
    `  listen: ${listen}`,
    "databases:",
    "  app:",
    `    source: "sqlite:${join(ws.dir, "app.db")}"`,
    "    schedule:",
    '      backup: "*/2 * * * * *"',
    '      verify: "*/3 * * * * *"',
    '      copy: "*/3 * * * * *"',
    "    drill:",
    '      schedule: "*/4 * * * * *"',
    "      targets: { rto: 5m, rpo: 1h }",
    "  shop:",
    `    source: "sqlite:${join(ws.dir, "shop.db")}"`,
    "    schedule:",
    '      backup: "*/2 * * * * *"',
  ].join("\n");
}

/** Grafana's variables as Grafana would send them for "All" databases and a 10-minute range. */
function substitute(expr: string, dashboard: Dashboard): string {
  const all = dashboard.templating.list.find((v) => v.name === "database")!.allValue!;
  return expr
    .replaceAll("$database", all)
    .replaceAll("$__rate_interval", "1m")
    .replaceAll("$__interval", "15s")
    .replaceAll("$__range", "10m");
}

async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== "success") throw new Error(`${expr}: ${body.error}`);
  return body.data!.result;
}

beforeAll(async () => {
  ws = await workspace();
  createDatabase(join(ws.dir, "app.db"), 400);
  createDatabase(join(ws.dir, "shop.db"), 100);
  // A timeline history file is archived like any WAL file: the WAL panels have an archive to show.
  const history = join(ws.dir, "00000002.history");
  await writeFile(history, "1\t0/3000000\tno recovery target specified\n");
  const pushed = await runCli(["wal-push", history], { env: ws.env });
  expect(pushed.code, pushed.stderr).toBe(0);

  const daemonPort = await freePort();
  metricsUrl = `http://127.0.0.1:${daemonPort}/metrics`;
  await writeFile(join(ws.dir, "holdfast.yaml"), config(`127.0.0.1:${daemonPort}`));
  daemon = await startDaemon(join(ws.dir, "holdfast.yaml"), { listen: false });

  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  const promDir = join(ws.dir, "prometheus");
  await mkdir(join(promDir, "data"), { recursive: true, mode: 0o700 });
  const scrape = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs:", "  - job_name: holdfast", "    static_configs:", `      - targets: ["127.0.0.1:${daemonPort}"]`];
  await writeFile(join(promDir, "prometheus.yml"), scrape.join("\n") + "\n");
  prometheus = spawn("/usr/bin/prometheus", [`--config.file=${join(promDir, "prometheus.yml")}`, `--storage.tsdb.path=${join(promDir, "data")}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: ["ignore", "pipe", "pipe"] });
  prometheus.stdout!.on("data", (d: Buffer) => (promLog += d.toString()));
  prometheus.stderr!.on("data", (d: Buffer) => (promLog += d.toString()));
  await waitFor("Prometheus to be ready", async () => prometheus.exitCode === null ? (await fetch(`${promUrl}/-/ready`)).ok : Promise.reject(new Error(promLog.slice(-2000))), 20_000);
}, 60_000);

afterAll(async () => {
  daemon?.kill();
  if (prometheus && prometheus.exitCode === null) prometheus.kill("SIGKILL");
  await ws?.cleanup();
});

describe("deploy/grafana/holdfast-dashboard.json", () => {
  it("is a dashboard of schema 36 or later with a data source variable and a database variable from label_values", async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, "utf8")) as Dashboard;
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const vars = dashboard.templating.list;
    expect(vars.find((v) => v.name === "datasource")).toMatchObject({ type: "datasource", query: "prometheus" });
    const database = vars.find((v) => v.name === "database")!;
    expect(database.type).toBe("query");
    expect(JSON.stringify(database.query)).toContain("label_values(holdfast_backups_total, database)");
    const queried = dashboard.panels.filter((p) => p.type !== "row");
    expect(queried.length).toBeGreaterThanOrEqual(15);
    for (const p of queried) expect(p.targets?.length, p.title).toBeGreaterThan(0);
  });

  it("every panel's query returns data from Prometheus scraping a real daemon", async () => {
    // Everything the panels show has happened at least once (a drill, a copy, a passing verify)...
    await waitFor(
      "a backup of each database, a passing verification, a copy and a drill on /metrics",
      async () => {
        const samples = parseMetrics(await (await fetch(metricsUrl)).text());
        const app = { database: "app" };
        return (
          (metricValue(samples, "holdfast_backups_total", { database: "shop", result: "success" }) ?? 0) >= 2 &&
          metricValue(samples, "holdfast_last_verify_success_timestamp_seconds", app) !== undefined &&
          metricValue(samples, "holdfast_copy_last_success_timestamp_seconds", app) !== undefined &&
          metricValue(samples, "holdfast_drill_rto_seconds", app) !== undefined &&
          metricValue(samples, "holdfast_wal_archived_files") !== undefined
        );
      },
      40_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${(daemon.stdout + daemon.stderr).slice(-3000)}`);
    });
    // ...and Prometheus has scraped it a few times since, so rates over a minute have two points.
    await new Promise((r) => setTimeout(r, 3000));

    const dashboard = JSON.parse(await readFile(DASHBOARD, "utf8")) as Dashboard;
    const empty: string[] = [];
    for (const panel of dashboard.panels.filter((p) => p.type !== "row")) {
      for (const target of panel.targets ?? []) {
        const expr = substitute(target.expr, dashboard);
        expect(expr, `${panel.title}: an unsubstituted variable`).not.toMatch(/\$/);
        await waitFor(`data for "${panel.title}"`, async () => (await query(expr)).length > 0, 5000).catch((err: Error) => empty.push(`panel "${panel.title}" (${target.refId}): ${expr}: ${err.message}`));
      }
    }
    expect(empty, `panels without data:\n${empty.join("\n")}`).toEqual([]);

    // The new series carry what the alert rules compare.
    const value = async (expr: string) => Number((await query(expr))[0]?.value[1]);
    expect(await value('holdfast_verify_interval_seconds{database="app"}')).toBe(3);
    expect(await query('holdfast_verify_interval_seconds{database="shop"}')).toEqual([]);
    expect(await value(`holdfast_copy_last_failed{database="app",target="${join(ws.dir, "offsite")}"}`)).toBe(0);
    expect(await value(`holdfast_copy_scheduled{database="app",target="${join(ws.dir, "offsite")}"}`)).toBe(1);
    expect(await value('time() - holdfast_last_verify_success_timestamp_seconds{database="app"}')).toBeLessThan(60);
    expect(await value('holdfast_backups_total{database="shop",result="success"}')).toBeGreaterThanOrEqual(2);
  }, 60_000);
});
