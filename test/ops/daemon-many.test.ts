import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDaemon, type RunningDaemon } from "../support/daemon.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { freePort, metricValue, parseMetrics, waitFor } from "../support/http.js";

/**
 * The daemon with several databases on the same schedule: their backups start in the same second
 * into one repository, and every job must succeed with a backup of its own database.
 */
const NAMES = ["alpha", "beta", "gamma", "delta"];
let ws: Workspace;
let daemon: RunningDaemon;
let base: string;

beforeAll(async () => {
  ws = await workspace();
  base = `http://127.0.0.1:${await freePort()}`;
  const lines = [`repo: ${ws.repo}`, `passphrase_file: ${ws.passphraseFile}`, `state_dir: ${join(ws.dir, "state")}`, "http:", `  listen: ${base.replace("http://", "")}`, "databases:"];
  for (const [i, name] of NAMES.entries()) {
    const path = join(ws.dir, `${name}.db`);
    createDatabase(path, 100 + i * 10);
    lines.push(`  ${name}:`, `    source: "sqlite:${path}"`, "    schedule:", '      backup: "*/2 * * * * *"');
  }
  const config = join(ws.dir, "holdfast.yaml");
  await writeFile(config, lines.join("\n") + "\n");
  daemon = await startDaemon(config);
}, 60_000);

afterAll(async () => {
  daemon?.kill();
  await ws?.cleanup();
});

describe("daemon: four databases on the same schedule", () => {
  it("every job succeeds, and each backup holds its own database", async () => {
    const metrics = async () => parseMetrics(await (await fetch(`${base}/metrics`)).text());
    await waitFor(
      "three backups of every database",
      async () => {
        const m = await metrics();
        return NAMES.every((n) => (metricValue(m, "holdfast_backups_total", { database: n, result: "success" }) ?? 0) >= 3);
      },
      90_000,
      500,
    );
    expect(await daemon.stop()).toBe(0);
    expect(failedJobLines(daemon.stderr)).toEqual([]);

    const list = await runCli(["list", "--json"], { env: ws.env });
    expect(list.code, list.stderr).toBe(0);
    const { backups, incomplete } = JSON.parse(list.stdout) as { backups: { id: string; source: { uri: string }; tables: { name: string; rows: number }[] }[]; incomplete: unknown[] };
    expect(incomplete).toEqual([]);
    expect(new Set(backups.map((b) => b.id)).size).toBe(backups.length);
    for (const [i, name] of NAMES.entries()) {
      const mine = backups.filter((b) => b.source.uri === `sqlite:${join(ws.dir, `${name}.db`)}`);
      expect(mine.length, name).toBeGreaterThanOrEqual(3);
      for (const b of mine) expect(b.tables.find((t) => t.name === "items")?.rows).toBe(100 + i * 10);
    }
    const verify = await runCli(["verify", "--all"], { env: ws.env });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 150_000);
});

/** Failed jobs the daemon logged (JSON lines at level ≥ 50). */
function failedJobLines(log: string): string[] {
  return log.split("\n").filter((l) => /"level":(50|60)/.test(l) && /job failed/.test(l));
}
