import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDaemon, type RunningDaemon } from "../support/daemon.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { freePort, metricValue, parseMetrics, waitFor } from "../support/http.js";
import { STATE_FILE } from "../../src/daemon/state.js";

/**
 * The daemon listens before it loads: /health answers "starting" at once, /ready, /metrics and
 * /health/backup say 503 until the repository has been unlocked and read. The daemon's state file
 * is a FIFO here (a state folder on a stalled network mount), which holds the daemon in "starting"
 * for as long as the test needs; the repository key uses the default scrypt cost, as in production.
 */
const TOKEN = "startup-token-for-the-metrics-endpoint";
let ws: Workspace;
let daemon: RunningDaemon;
let base: string;
let stateFifo: string;

async function get(path: string, token: string | null = TOKEN): Promise<{ status: number; body: string }> {
  const res = await fetch(base + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.text() };
}

beforeAll(async () => {
  ws = await workspace();
  const repo = join(ws.dir, "repo-default-cost");
  const init = await runCli(["repo", "init", repo], { env: ws.env }); // scrypt work factor 2^18, as users get it
  expect(init.code, init.stderr).toBe(0);
  const db = join(ws.dir, "app.db");
  createDatabase(db, 100);
  const stateDir = join(ws.dir, "state");
  await mkdir(stateDir, { mode: 0o700 });
  stateFifo = join(stateDir, STATE_FILE);
  execFileSync("mkfifo", ["-m", "0600", stateFifo]);
  base = `http://127.0.0.1:${await freePort()}`;
  await writeFile(join(ws.dir, "token.txt"), TOKEN + "\n", { mode: 0o600 });
  const config = join(ws.dir, "holdfast.yaml");
  await writeFile(
    config,
    [
      `repo: ${repo}`,
      `passphrase_file: ${ws.passphraseFile}`,
      `state_dir: ${stateDir}`,
      "run_missed_on_start: false",
      "http:",
      `  listen: ${base.replace("http://", "")}`,
      "  token_file: token.txt",
      "databases:",
      "  app:",
      `    source: "sqlite:${db}"`,
      "    schedule:",
      '      backup: "0 2 * * *"',
    ].join("\n"),
  );
  daemon = await startDaemon(config, { listen: false });
}, 60_000);

afterAll(async () => {
  daemon?.kill();
  await ws?.cleanup();
});

describe("holdfast daemon start-up (child process)", () => {
  it("answers /health with 'starting' at once, and says not ready until loaded", async () => {
    const spawned = Date.now();
    const first = await waitFor("the first answer on the port", () => (daemon.child.exitCode !== null ? Promise.reject(new Error(daemon.stderr)) : get("/health", null).catch(() => undefined)), 30_000, 10);
    const firstAnswerMs = Date.now() - spawned;
    console.log(`daemon start-up: first /health answer ${firstAnswerMs} ms after spawn`);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toEqual({ ok: true, status: "starting" });

    const ready = await get("/ready", null); // probes carry no token
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toEqual({ ready: false, status: "starting" });
    const metrics = await get("/metrics");
    expect(metrics.status).toBe(503); // a scrape fails instead of reading "no data" as fine
    expect(metrics.body).toMatch(/starting/);
    expect((await get("/metrics", null)).status).toBe(401);
    const backup = await get("/health/backup");
    expect(backup.status).toBe(503);
    expect(JSON.parse(backup.body)).toMatchObject({ ok: false, status: "starting" });
    expect(daemon.stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+ \(starting\)/);
    expect(daemon.stdout).not.toContain("ready");

    // The (stalled) state file answers: loading completes.
    const released = Date.now();
    await writeFile(stateFifo, "{}");
    const up = await waitFor("/ready 200", async () => {
      const r = await get("/ready", null);
      return r.status === 200 ? r : undefined;
    }, 30_000, 20);
    console.log(`daemon start-up: ready ${Date.now() - released} ms after the state file answered (${Date.now() - spawned} ms after spawn)`);
    expect(JSON.parse(up.body)).toEqual({ ready: true, status: "ready" });
    expect(JSON.parse((await get("/health", null)).body)).toEqual({ ok: true, status: "ready" });
    const samples = parseMetrics((await get("/metrics")).body);
    expect(metricValue(samples, "holdfast_backups_total", { database: "app", result: "success" })).toBe(0);
    const verdict = await get("/health/backup");
    expect(verdict.status).toBe(503); // no backup yet: a real verdict with its reason, not "starting"
    expect(JSON.parse(verdict.body)).toMatchObject({ ok: false, databases: [{ name: "app", ok: false, reasons: ["no backup yet"] }] });
    expect(daemon.stdout).toContain("holdfast daemon ready");
  });

  it("SIGTERM after start-up exits 0", async () => {
    expect(await daemon.stop()).toBe(0);
    expect(daemon.stderr).toContain("daemon stopped");
  });
});
