import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { Daemon } from "../../dist/daemon/daemon.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { freePort, metricValue, parseMetrics, waitFor } from "../support/http.js";

let ws: Workspace;
let db: string;
const silent = pino({ level: "silent" });

beforeAll(async () => {
  ws = await workspace();
  db = join(ws.dir, "app.db");
  createDatabase(db, 200);
});
afterAll(() => ws.cleanup());

async function writeConfig(name: string, port: number, lines: string[]): Promise<string> {
  const path = join(ws.dir, name);
  await writeFile(path, [`repo: ${ws.repo}`, `passphrase_file: ${ws.passphraseFile}`, `state_dir: ${join(ws.dir, "state")}`, "http:", `  listen: 127.0.0.1:${port}`, ...lines].join("\n"));
  return path;
}

async function scrape(port: number): Promise<ReturnType<typeof parseMetrics>> {
  return parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
}

describe("holdfast daemon (in process)", () => {
  it("runs a schedule missed while down once on start, and not again after a restart", async () => {
    const port = await freePort();
    const path = await writeConfig("missed.yaml", port, ["databases:", "  app:", `    source: "sqlite:${db}"`, "    timezone: Europe/Berlin", "    schedule:", '      backup: "0 3 * * *"']);
    const first = await Daemon.start(path, silent);
    try {
      await waitFor("the missed backup", async () => metricValue(await scrape(port), "holdfast_backups_total", { database: "app", result: "success" }) === 1, 30_000);
      const next = first.nextRun("app", "backup")!;
      expect(new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Berlin", hour: "2-digit", minute: "2-digit" }).format(next)).toBe("03:00");
    } finally {
      await first.stop();
    }
    const state = JSON.parse(await readFile(join(ws.dir, "state", "holdfast-daemon-state.json"), "utf8"));
    expect(state.jobs["app/backup"].ok).toBe(true);

    const second = await Daemon.start(path, silent);
    try {
      await new Promise((r) => setTimeout(r, 2000));
      const samples = await scrape(port);
      expect(metricValue(samples, "holdfast_backups_total", { database: "app", result: "success" })).toBe(0);
      // Gauges come from the repository, so they are right after a restart.
      expect(metricValue(samples, "holdfast_backups", { database: "app" })).toBe(1);
    } finally {
      await second.stop();
    }

    const status = await runCli(["status", "--config", path], { env: ws.env });
    expect(status.code, status.stderr).toBe(0);
    const row = status.stdout.split("\n").find((l) => l.startsWith("app "))!;
    expect(row).toMatch(/^app\s+\d{8}T\d{6}Z(-\d+)?\s+\d+s\s+[\d.]+ KiB\s+1\s+[\d.]+ KiB\s+never\s+backup in [\d.]+[smh]\s+-$/);
    const json = JSON.parse((await runCli(["status", "--json", "--config", path], { env: ws.env })).stdout);
    expect(json.databases[0]).toMatchObject({ name: "app", backups: 1, stale: false, timeZone: "Europe/Berlin" });
    expect(json.databases[0].nextRuns.backup).toMatch(/T0[12]:00:00\.000Z$/); // 03:00 in Berlin
  });

  it("alerts through a command when backups go stale, repeats after repeat_after, and resolves", async () => {
    const port = await freePort();
    const out = join(ws.dir, "alerts.ndjson");
    const sink = `require("fs").appendFileSync(${JSON.stringify(out)}, require("fs").readFileSync(0, "utf8") + "\\n")`;
    const path = await writeConfig("stale.yaml", port, [
      "alerts:",
      `  command: ${JSON.stringify([process.execPath, "-e", sink])}`,
      "  repeat_after: 2s",
      "run_missed_on_start: false",
      "databases:",
      "  app:",
      `    source: "sqlite:${db}"`,
      "    stale_after: 3s",
      "    schedule:",
      '      backup: "*/8 * * * * *"',
    ]);
    const payloads = async () => (await readFile(out, "utf8").catch(() => "")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const daemon = await Daemon.start(path, silent);
    try {
      await waitFor("a staleness alert", async () => (await payloads()).some((p) => p.alert === "backup_stale" && p.status === "firing"), 30_000);
      await waitFor("a repeated staleness alert", async () => (await payloads()).some((p) => p.alert === "backup_stale" && p.status === "firing" && p.repeat === true), 30_000);
      await waitFor("a resolved staleness alert", async () => (await payloads()).some((p) => p.alert === "backup_stale" && p.status === "resolved"), 30_000);
      const health = await fetch(`http://127.0.0.1:${port}/health/backup?database=app`);
      expect([200, 503]).toContain(health.status);
      expect((await fetch(`http://127.0.0.1:${port}/health/backup?database=nosuch`)).status).toBe(404);
    } finally {
      await daemon.stop();
    }
    const all = await payloads();
    const firing = all.find((p) => p.alert === "backup_stale" && p.status === "firing")!;
    expect(firing).toMatchObject({ database: "app", repeat: false });
    // Repeats of one episode (same "since") are at least repeat_after apart.
    const episodes = new Map<string, number[]>();
    for (const p of all.filter((p) => p.alert === "backup_stale" && p.status === "firing")) episodes.set(String(p.since), [...(episodes.get(String(p.since)) ?? []), Date.parse(String(p.at))]);
    for (const times of episodes.values()) for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1900);
    expect(String(firing.message)).toMatch(/app: newest backup \S+ is \d+ s old \(stale after 3 s\)/);
  });
});

describe("holdfast daemon shutdown", () => {
  it("stop() waits for the running backup to commit before it resolves", async () => {
    const big = join(ws.dir, "big.db");
    createDatabase(big, 150_000);
    const port = await freePort();
    const path = await writeConfig("graceful.yaml", port, ["databases:", "  big:", `    source: "sqlite:${big}"`, "    schedule:", '      backup: "0 3 * * *"']);
    const lines: string[] = [];
    const log = pino({ level: "info" }, new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }));
    const daemon = await Daemon.start(path, log);
    await waitFor("the missed backup to start", () => lines.some((l) => l.includes('"database":"big"') && l.includes("job started")), 30_000, 20);
    await daemon.stop();
    const finished = lines.findIndex((l) => l.includes('"database":"big"') && l.includes("job finished"));
    const stopped = lines.findIndex((l) => l.includes("daemon stopped"));
    // The backup was still running when stop() was called, and finished before the daemon did.
    expect(lines.find((l) => l.includes("stopping: waiting for running jobs"))).toContain("big/backup");
    expect(finished, lines.join("")).toBeGreaterThan(-1);
    expect(stopped).toBeGreaterThan(finished);
    const list = await runCli(["list", "--json"], { env: ws.env });
    const backups = JSON.parse(list.stdout).backups.filter((m: { source: { uri: string } }) => m.source.uri.endsWith("big.db"));
    expect(backups).toHaveLength(1);
    expect(JSON.parse(list.stdout).incomplete).toEqual([]);
  });
});

describe("holdfast daemon copy job", () => {
  it("copies the database's backups to every copy_to repository on its schedule", async () => {
    const taken = await runCli(["backup", `sqlite:${db}`], { env: ws.env });
    expect(taken.code, taken.stderr).toBe(0);
    const before = JSON.parse((await runCli(["list", "--json"], { env: ws.env })).stdout).backups.filter((m: { source: { uri: string } }) => m.source.uri === `sqlite:${db}`);
    expect(before.length).toBeGreaterThan(0);
    const offsite = join(ws.dir, "offsite");
    const port = await freePort();
    const path = await writeConfig("copy.yaml", port, [`copy_to: ${offsite}`, "databases:", "  app:", `    source: "sqlite:${db}"`, "    schedule:", '      copy: "*/2 * * * * *"']);
    const daemon = await Daemon.start(path, silent);
    try {
      await waitFor("a successful copy job", async () => (metricValue(await scrape(port), "holdfast_jobs_total", { database: "app", job: "copy", result: "success" }) ?? 0) >= 1, 30_000);
    } finally {
      await daemon.stop();
    }
    const copied = await runCli(["list", "--json"], { env: { ...ws.env, HOLDFAST_REPO: offsite } });
    expect(copied.code, copied.stderr).toBe(0);
    expect(JSON.parse(copied.stdout).backups.map((m: { id: string }) => m.id).sort()).toEqual(before.map((m: { id: string }) => m.id).sort());
  });
});
