import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pino from "pino";
import { Daemon } from "../../dist/daemon/daemon.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { freePort, metricValue, parseMetrics, waitFor } from "../support/http.js";

/**
 * Offsite copies per repository: with two copy_to repositories, one unusable (a plain file where
 * a folder should be), the copy job still fills the good one, fails, and /metrics says which
 * target failed and when each last succeeded. After a restart, before any copy runs again, the
 * daemon's state file brings the same series back (copies leave no record in the repository).
 */
let ws: Workspace;
const silent = pino({ level: "silent" });

beforeAll(async () => {
  ws = await workspace();
  createDatabase(join(ws.dir, "app.db"), 200);
  const taken = await runCli(["backup", `sqlite:${join(ws.dir, "app.db")}`], { env: ws.env });
  expect(taken.code, taken.stderr).toBe(0);
});
afterAll(() => ws.cleanup());

async function writeConfig(port: number, copy: string, targets: string[]): Promise<string> {
  const path = join(ws.dir, "holdfast.yaml");
  const lines = [`repo: ${ws.repo}`, `passphrase_file: ${ws.passphraseFile}`, `state_dir: ${join(ws.dir, "state")}`, "run_missed_on_start: false", "http:", `  listen: 127.0.0.1:${port}`];
  lines.push("copy_to:", ...targets.map((t) => `  - ${t}`), "databases:", "  app:", `    source: "sqlite:${join(ws.dir, "app.db")}"`, "    schedule:", `      copy: "${copy}"`);
  await writeFile(path, lines.join("\n"));
  return path;
}

async function scrape(port: number): Promise<ReturnType<typeof parseMetrics>> {
  return parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
}

describe("holdfast daemon: offsite copy metrics per repository", () => {
  it("one failing copy_to repository fails the job without stopping the others; the result survives a restart", async () => {
    const bad = join(ws.dir, "not-a-folder");
    const good = join(ws.dir, "offsite");
    await writeFile(bad, "a file, not a repository\n");
    const port = await freePort();
    const path = await writeConfig(port, "*/2 * * * * *", [bad, good]);
    let lastSuccess: number | undefined;
    const first = await Daemon.start(path, silent);
    try {
      const samples = await waitFor("a failed copy job", async () => {
        const s = await scrape(port);
        return (metricValue(s, "holdfast_jobs_total", { database: "app", job: "copy", result: "failure" }) ?? 0) >= 1 ? s : undefined;
      });
      const of = (name: string, target: string) => metricValue(samples, name, { database: "app", target });
      expect(of("holdfast_copy_scheduled", bad)).toBe(1);
      expect(of("holdfast_copy_scheduled", good)).toBe(1);
      expect(of("holdfast_copy_last_failed", bad)).toBe(1);
      expect(of("holdfast_copy_last_success_timestamp_seconds", bad)).toBeUndefined();
      expect(of("holdfast_copy_last_failed", good)).toBe(0);
      lastSuccess = of("holdfast_copy_last_success_timestamp_seconds", good);
      expect(Math.abs(lastSuccess! - Date.now() / 1000)).toBeLessThan(30);
      expect(metricValue(samples, "holdfast_last_job_failed", { database: "app", job: "copy" })).toBe(1);
    } finally {
      await first.stop();
    }
    const copied = await runCli(["list", "--json"], { env: { ...ws.env, HOLDFAST_REPO: good } });
    expect(copied.code, copied.stderr).toBe(0);
    expect(JSON.parse(copied.stdout).backups).toHaveLength(1);
    const state = JSON.parse(await readFile(join(ws.dir, "state", "holdfast-daemon-state.json"), "utf8"));
    expect(state.jobs[`app/copy ${bad}`]).toMatchObject({ ok: false, error: expect.stringContaining(bad) });
    expect(state.jobs[`app/copy ${good}`]).toMatchObject({ ok: true });

    // Copies now once a year, not on start: what /metrics shows comes from the state file.
    await writeConfig(port, "0 0 4 1 1 *", [bad, good]);
    const second = await Daemon.start(path, silent);
    try {
      const samples = await scrape(port);
      expect(metricValue(samples, "holdfast_jobs_total", { database: "app", job: "copy", result: "failure" }) ?? 0).toBe(0);
      expect(metricValue(samples, "holdfast_copy_last_failed", { database: "app", target: bad })).toBe(1);
      expect(metricValue(samples, "holdfast_copy_last_failed", { database: "app", target: good })).toBe(0);
      expect(metricValue(samples, "holdfast_copy_last_success_timestamp_seconds", { database: "app", target: good })).toBeGreaterThanOrEqual(lastSuccess!);
    } finally {
      await second.stop();
    }
  });
});
