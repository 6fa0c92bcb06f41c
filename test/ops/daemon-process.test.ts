import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDaemon, type RunningDaemon } from "../support/daemon.js";
import { workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { freePort, metricValue, parseMetrics, startReceiver, waitFor, type Receiver } from "../support/http.js";

const TOKEN = "s3cret-token-for-the-metrics-endpoint";
let ws: Workspace;
let db: string;
let receiver: Receiver;
let daemon: RunningDaemon;
let base: string;
let config: string;

function yaml(schedule: string): string {
  return [
    `repo: ${ws.repo}`,
    `passphrase_file: ${ws.passphraseFile}`,
    `state_dir: ${join(ws.dir, "state")}`,
    "http:",
    `  listen: ${base.replace("http://", "")}`,
    "  token_file: token.txt",
    "alerts:",
    `  webhooks: ["${receiver.url}"]`,
    "  repeat_after: 1h",
    "databases:",
    "  app:",
    `    source: "sqlite:${db}"`,
    "    stale_after: 1h",
    "    schedule:",
    `      backup: "${schedule}"`,
    '      verify: "*/3 * * * * *"',
  ].join("\n");
}

async function get(path: string, token: string | null = TOKEN): Promise<{ status: number; text: string }> {
  const res = await fetch(base + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, text: await res.text() };
}

async function metric(name: string, labels: Record<string, string>): Promise<number | undefined> {
  return metricValue(parseMetrics((await get("/metrics")).text), name, labels);
}

const alerts = (alert: string, status: string) => receiver.bodies.filter((b) => b.alert === alert && b.status === status);

beforeAll(async () => {
  ws = await workspace();
  db = join(ws.dir, "app.db");
  createDatabase(db, 300);
  receiver = await startReceiver();
  base = `http://127.0.0.1:${await freePort()}`;
  config = join(ws.dir, "holdfast.yaml");
  await writeFile(join(ws.dir, "token.txt"), TOKEN + "\n", { mode: 0o600 });
  await writeFile(config, yaml("*/2 * * * * *"));
  daemon = await startDaemon(config);
}, 60_000);

afterAll(async () => {
  daemon?.kill();
  await receiver.close();
  await ws.cleanup();
});

describe("holdfast daemon (child process)", () => {
  it("runs scheduled backups and verifies and exposes them on /metrics", async () => {
    await waitFor("a successful backup", async () => ((await metric("holdfast_backups_total", { database: "app", result: "success" })) ?? 0) >= 2, 40_000);
    await waitFor("a passed verification", async () => (await metric("holdfast_last_verify_success", { database: "app" })) === 1, 40_000);
    const samples = parseMetrics((await get("/metrics")).text);
    const lastSuccess = metricValue(samples, "holdfast_last_success_timestamp_seconds", { database: "app" })!;
    expect(Math.abs(Date.now() / 1000 - lastSuccess)).toBeLessThan(60);
    expect(metricValue(samples, "holdfast_backup_size_bytes", { database: "app" })).toBeGreaterThan(1000);
    expect(metricValue(samples, "holdfast_repository_bytes", { database: "app" })).toBeGreaterThan(1000);
    expect(metricValue(samples, "holdfast_backup_duration_seconds_count", { database: "app" })).toBeGreaterThanOrEqual(2);
    expect(metricValue(samples, "holdfast_repository_free_bytes")).toBeGreaterThan(0);
    expect(metricValue(samples, "holdfast_backups_total", { database: "app", result: "failure" })).toBe(0);
    const health = await get("/health/backup");
    expect(health.status, health.text).toBe(200);
    expect(JSON.parse(health.text)).toMatchObject({ ok: true, databases: [{ name: "app", ok: true, reasons: [] }] });
    expect((await get("/health")).status).toBe(200);
  });

  it("refuses requests without the bearer token", async () => {
    expect((await get("/metrics", null)).status).toBe(401);
    expect((await get("/health/backup", "wrong-token-of-the-same-size-xxxxx")).status).toBe(401);
    expect((await get("/health", null)).status).toBe(200); // liveness probes carry no secret
  });

  it("a failing backup (source deleted) raises the failure metric, flips /health/backup to 503 and alerts; recovery resolves", async () => {
    for (const suffix of ["", "-wal", "-shm"]) await rm(db + suffix, { force: true });
    await waitFor("a failed backup", async () => ((await metric("holdfast_backups_total", { database: "app", result: "failure" })) ?? 0) >= 1, 30_000);
    const health = await waitFor("503", async () => {
      const h = await get("/health/backup");
      return h.status === 503 ? h : undefined;
    });
    const body = JSON.parse(health.text);
    expect(body.ok).toBe(false);
    expect(body.databases[0].reasons.join(" ")).toMatch(/last backup failed at .*: .*app\.db/);
    const [firing] = await waitFor("the failure webhook", () => (alerts("backup_failed", "firing").length ? alerts("backup_failed", "firing") : undefined));
    expect(firing).toMatchObject({ status: "firing", alert: "backup_failed", database: "app", repeat: false });
    expect(String(firing!.message)).toContain("app.db");
    // Rate limit: the backup keeps failing every 2 s, but repeat_after is 1 h.
    await new Promise((r) => setTimeout(r, 4500));
    expect(alerts("backup_failed", "firing")).toHaveLength(1);

    createDatabase(db, 50);
    await waitFor("the resolved webhook", () => alerts("backup_failed", "resolved").length === 1, 30_000);
    await waitFor("/health/backup 200 again", async () => (await get("/health/backup")).status === 200);
  });

  it("SIGHUP with a bad config keeps the old one running and says why", async () => {
    await writeFile(config, yaml("every two seconds"));
    daemon.child.kill("SIGHUP");
    await waitFor("the refusal in the log", () => daemon.stderr.includes("reload refused"), 15_000);
    const line = daemon.stderr.split("\n").find((l) => l.includes("reload refused"))!;
    expect(line).toContain("databases.app.schedule.backup");
    const before = (await metric("holdfast_backups_total", { database: "app", result: "success" }))!;
    await waitFor("backups to go on", async () => (await metric("holdfast_backups_total", { database: "app", result: "success" }))! > before, 20_000);

    // A good config is taken: backups slow down to once an hour.
    await writeFile(config, yaml("0 * * * *"));
    daemon.child.kill("SIGHUP");
    await waitFor("the reload", () => daemon.stderr.includes("config reloaded"), 15_000);
  });

  it("SIGTERM waits for the running job and exits 0", async () => {
    expect(await daemon.stop()).toBe(0);
    expect(daemon.stderr).toContain("daemon stopped");
    expect(daemon.stderr).not.toContain('"level":60');
  });
});
