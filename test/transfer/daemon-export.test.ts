import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDaemon, type RunningDaemon } from "../support/daemon.js";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { countRows, createDatabase } from "../support/sqlite.js";
import { freePort, metricValue, parseMetrics, waitFor } from "../support/http.js";

/**
 * Scheduled exports in a real daemon (child process) on a real SQLite database: the export lands
 * in the repository as its own kind, with the configured filters, passes `verify --deep`, and the
 * export metrics show it; once the source is gone the next export fails, counts as a failure and
 * raises the export_failed alert condition (holdfast_last_job_failed{job="export"}).
 */
let ws: Workspace;
let base: string;
let config: string;
let daemon: RunningDaemon;
let dbPath: string;
let alertsFile: string;

const cliEnv = () => ({ ...ws.env, HOLDFAST_REPO: undefined, HOLDFAST_PASSPHRASE_FILE: undefined });

async function metrics(): Promise<ReturnType<typeof parseMetrics>> {
  return parseMetrics(await (await fetch(base + "/metrics")).text());
}

beforeAll(async () => {
  ws = await workspace();
  dbPath = join(ws.dir, "app.db");
  createDatabase(dbPath, 400);
  base = `http://127.0.0.1:${await freePort()}`;
  config = join(ws.dir, "holdfast.yaml");
  alertsFile = join(ws.dir, "alerts.ndjson");
  const sink = `require("fs").appendFileSync(${JSON.stringify(alertsFile)}, require("fs").readFileSync(0, "utf8") + "\\n")`;
  await writeFile(
    config,
    [
      `repo: ${ws.repo}`,
      `passphrase_file: ${ws.passphraseFile}`,
      `state_dir: ${join(ws.dir, "state")}`,
      `tmp_dir: ${ws.dir}`,
      "run_missed_on_start: false",
      "alerts:",
      `  command: ${JSON.stringify([process.execPath, "-e", sink])}`,
      "http:",
      `  listen: ${base.replace("http://", "")}`,
      "databases:",
      "  app:",
      `    source: "sqlite:${dbPath}"`,
      "    export:",
      '      schedule: "*/2 * * * * *"',
      '      tables: ["items", "tags"]',
      '      sensitive: ["tags.tag"]',
      "      where: { items: \"n < 300\" }",
    ].join("\n"),
  );
  daemon = await startDaemon(config);
}, 60_000);

afterAll(async () => {
  daemon?.kill();
  await ws?.cleanup();
});

describe("holdfast daemon: scheduled exports", () => {
  it("an export runs on its schedule: listed as kind export, filtered as configured, passes verify --deep, shown on /metrics", async () => {
    await waitFor("an export on /metrics", async () => (metricValue(await metrics(), "holdfast_exports_total", { database: "app", result: "success" }) ?? 0) >= 1, 30_000);
    const list = await runCli(["list", "--json", "--config", config], { env: cliEnv() });
    expect(list.code, list.stderr).toBe(0);
    const exports = (JSON.parse(list.stdout).backups as { id: string; kind: string; source: { uri: string }; tables: { name: string; rows: number }[]; finishedAt: string }[]).filter((b) => b.kind === "export");
    expect(exports.length).toBeGreaterThanOrEqual(1);
    const first = exports[0]!;
    expect(first.source.uri).toBe(`sqlite:${dbPath}`);
    const tagRows = countRows(dbPath, "tags");
    expect(first.tables).toEqual([
      { name: "items", rows: 300 },
      { name: "tags", rows: tagRows },
    ]);
    // No backup schedule: the exports are no backups (freshness still says none).
    expect(JSON.parse(list.stdout).backups.filter((b: { kind: string }) => b.kind !== "export")).toEqual([]);

    const verified = await runCli(["verify", first.id, "--deep", "--json", "--config", config], { env: cliEnv() });
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout).backups).toEqual([expect.objectContaining({ id: first.id, ok: true })]);

    // Gauges come from the catalog: the newest export the repository holds.
    const { samples, newest } = await waitFor("/metrics showing the newest export", async () => {
      const samples = await metrics();
      const all = (JSON.parse((await runCli(["list", "--json", "--config", config], { env: cliEnv() })).stdout).backups as typeof exports).filter((b) => b.kind === "export");
      const newest = all.sort((a, b) => (a.finishedAt < b.finishedAt ? 1 : -1))[0]!;
      return metricValue(samples, "holdfast_export_last_success_timestamp_seconds", { database: "app" }) === Date.parse(newest.finishedAt) / 1000 ? { samples, newest } : undefined;
    }, 15_000);
    expect(newest.tables.reduce((s, t) => s + t.rows, 0)).toBe(300 + tagRows);
    expect(metricValue(samples, "holdfast_export_rows", { database: "app" })).toBe(300 + tagRows);
    expect(metricValue(samples, "holdfast_export_duration_seconds_count", { database: "app" })).toBeGreaterThanOrEqual(1);
    expect(metricValue(samples, "holdfast_export_duration_seconds_sum", { database: "app" })).toBeGreaterThan(0);
    expect(metricValue(samples, "holdfast_exports_total", { database: "app", result: "failure" })).toBe(0);
    expect(metricValue(samples, "holdfast_last_job_failed", { database: "app", job: "export" })).toBe(0);
    expect(metricValue(samples, "holdfast_jobs_total", { database: "app", job: "export", result: "success" })).toBeGreaterThanOrEqual(1);
    expect(daemon.stderr).toMatch(/"job":"export".*"note":"export \S+: 2 table\(s\), \d+ row\(s\)"/);
  });

  it("a failing export (the source removed) counts as a failure, keeps the last success, and raises export_failed", async () => {
    const before = metricValue(await metrics(), "holdfast_export_last_success_timestamp_seconds", { database: "app" })!;
    await rename(dbPath, `${dbPath}.gone`);
    await waitFor("a failed export on /metrics", async () => (metricValue(await metrics(), "holdfast_exports_total", { database: "app", result: "failure" }) ?? 0) >= 1, 20_000);
    await waitFor("last_job_failed 1", async () => metricValue(await metrics(), "holdfast_last_job_failed", { database: "app", job: "export" }) === 1, 10_000);
    const samples = await metrics();
    expect(metricValue(samples, "holdfast_export_last_success_timestamp_seconds", { database: "app" })).toBeGreaterThanOrEqual(before);
    expect(metricValue(samples, "holdfast_jobs_total", { database: "app", job: "export", result: "failure" })).toBeGreaterThanOrEqual(1);
    expect(daemon.stderr).toMatch(/"job":"export".*job failed: .*app\.db/);
    const alerts = await waitFor("the export_failed alert", async () => {
      const lines = (await readFile(alertsFile, "utf8").catch(() => "")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { alert: string; status: string; database: string; message: string });
      return lines.find((a) => a.alert === "export_failed");
    }, 10_000);
    expect(alerts).toMatchObject({ status: "firing", database: "app" });
    expect(alerts.message).toMatch(/^app: export failed: .*app\.db/);
    const health = await fetch(base + "/health/backup");
    expect(health.status).toBe(503); // no backup at all: unchanged by exports either way
    expect(await daemon.stop()).toBe(0);
    // Nothing half-written stays behind.
    const list = JSON.parse((await runCli(["list", "--json", "--config", config], { env: cliEnv() })).stdout);
    expect(list.incomplete).toEqual([]);
  });

  it("a bad export entry is refused at start with its key path: a misspelt key, a source that is no database", async () => {
    const refused = async (entry: string[], source = `sqlite:${dbPath}`) => {
      const path = join(ws.dir, "bad.yaml");
      await writeFile(path, [`repo: ${ws.repo}`, `passphrase_file: ${ws.passphraseFile}`, "databases:", "  app:", `    source: "${source}"`, "    export:", ...entry.map((l) => `      ${l}`)].join("\n"));
      const r = await runCli(["daemon", "--config", path], { env: cliEnv() });
      expect(r.code).toBe(3);
      return errorLine(r);
    };
    expect(await refused(['schedule: "0 3 * * *"', "tabels: [items]"])).toMatch(/bad\.yaml: unknown key databases\.app\.export\.tabels/);
    expect(await refused(["tables: [items]"])).toMatch(/databases\.app\.export\.schedule/);
    expect(await refused(['schedule: "0 3 * * *"'], `files:${ws.dir}`)).toBe(`${join(ws.dir, "bad.yaml")}: databases.app.export: exports SQLite and PostgreSQL databases; the source is neither`);
  });
});
