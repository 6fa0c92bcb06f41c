import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { runCli, startCli, workspace, type RunResult, type Workspace } from "../support/cli.js";
import { postgresBinDir, type PgCluster } from "../support/pg-cluster.js";
import { runAsServerUser, shareWithServer, startArchivingCluster, startRestored, switchAndWaitArchived } from "../support/pitr.js";

/**
 * Recovery gets its WAL from the restoring process's fetch service: the key is unlocked once (the
 * passphrase exists only in the restore's environment, the server never has it), segments are
 * read ahead into pg_wal/holdfast-prefetch, and nothing of the service outlives the restore —
 * a killed restore stops recovery instead of ending it early, and the next restore sweeps it.
 */
let ws: Workspace;
let cluster: PgCluster;
let walStart: string;
const ROWS = 12;
const PASSPHRASE = "correct horse battery staple";

const ids = async (q: (sql: string) => Promise<Record<string, unknown>[]>) => (await q("SELECT id FROM events ORDER BY id")).map((r) => Number(r.id));
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const serviceDirsOf = async (pid: number) => (await readdir(tmpdir())).filter((n) => n.startsWith(`hf-walfetch-${pid}-`));
/** Only the environment holds the passphrase: no file restore_command could read. */
const envOnly = () => ({ ...ws.env, HOLDFAST_PASSPHRASE_FILE: undefined, HOLDFAST_PASSPHRASE: PASSPHRASE });

function run(args: string[]): { pid: number; done: Promise<RunResult> } {
  const child = startCli(args, { env: envOnly() });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin!.end();
  const done = new Promise<RunResult>((resolve) => child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr })));
  return { pid: child.pid!, done };
}

beforeAll(async () => {
  ws = await workspace();
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws, { lean: true });
  await cluster.query("CREATE TABLE events (id int PRIMARY KEY, pad text NOT NULL)");
  const b = await runCli(["backup", "--type", "physical", cluster.url(), "--json"], { env: ws.env });
  expect(b.code, b.stderr).toBe(0);
  walStart = JSON.parse(b.stdout).details.walStart;
  // A segment (1 MiB) per row after the base backup: more segments than the read-ahead window of 8.
  for (let i = 1; i <= ROWS; i++) {
    await cluster.query(`INSERT INTO events VALUES (${i}, md5('${i}'))`);
    await cluster.query("SELECT pg_switch_wal()");
  }
  await cluster.query("INSERT INTO events VALUES (1000, 'last')");
  await switchAndWaitArchived((sql) => cluster.query(sql));
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("WAL fetch service of a point-in-time restore", () => {
  it("recovers to latest with the key unlocked once, reading segments ahead, and leaves nothing behind", async () => {
    const dir = join(ws.dir, "latest");
    const { pid, done } = run(["restore", "--type", "physical", "--to", dir, "--json"]);
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    const archived = (await readdir(join(ws.repo, "wal", "00000001"))).filter((n) => /^[0-9A-F]{24}\.json$/.test(n) && n >= `${walStart}.json`);
    expect(archived.length).toBeGreaterThan(10);
    // Every archived segment from the backup's start went through the service (read ahead or asked for).
    expect(result.walFetch.fetched).toBeGreaterThanOrEqual(archived.length);
    expect(result.walFetch.requests).toBeGreaterThan(0);
    const serverLog = await readFile(join(dir, "holdfast-recovery.log"), "utf8");
    expect(serverLog).toMatch(/restored log file "[0-9A-F]{24}" from archive/);
    expect(serverLog).not.toMatch(/holdfast wal-fetch-client:|FATAL/);
    expect(await serviceDirsOf(pid)).toEqual([]);
    expect(existsSync(join(dir, "pg_wal", "holdfast-prefetch"))).toBe(false);
    const server = await startRestored(dir);
    try {
      expect(await ids((sql) => server.query(sql))).toEqual([...range(1, ROWS), 1000]);
    } finally {
      await server.stop();
    }
  });

  it("a killed restore stops its recovery (never a promotion at the wrong point); the next restore sweeps its socket folder", async () => {
    const dir = join(ws.dir, "killed");
    const { pid, done } = run(["restore", "--type", "physical", "--to", dir]);
    const pidFile = join(dir, "postmaster.pid");
    for (let i = 0; i < 600 && !existsSync(pidFile); i++) await sleep(10);
    // Frozen, the service answers nothing: recovery waits in restore_command until the kill.
    process.kill(pid, "SIGSTOP");
    try {
      expect(existsSync(pidFile), "the server of the restore started").toBe(true);
      expect(await serviceDirsOf(pid)).toHaveLength(1);
      process.kill(pid, "SIGKILL");
      await done;
      for (let i = 0; i < 300 && existsSync(pidFile); i++) await sleep(100);
      expect(existsSync(pidFile), "the server stopped by itself").toBe(false);
      const log = await readFile(join(dir, "holdfast-recovery.log"), "utf8");
      expect(log).toMatch(/holdfast wal-fetch-client: [0-9A-F.a-z]+: (the service closed the connection|the restore's WAL fetch service at .* is unreachable)/);
      expect(log).toMatch(/FATAL: {2}could not restore file .* from archive: child process exited with exit code 128/);
      expect(log).not.toMatch(/selected new timeline ID|database system is ready to accept connections/);
      expect(await serviceDirsOf(pid)).toHaveLength(1);
    } finally {
      if (existsSync(pidFile)) await runAsServerUser([join(postgresBinDir(), "pg_ctl"), "-D", dir, "-m", "immediate", "-w", "stop"]);
    }
    const next = run(["restore", "--type", "physical", "--to", join(ws.dir, "after-kill")]);
    expect((await next.done).code).toBe(0);
    expect(await serviceDirsOf(pid)).toEqual([]);
  });
});
