import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";

let pg: PgCluster;
let ws: Workspace;

beforeAll(async () => {
  pg = await startCluster({ conf: { max_connections: "60" } });
  await pg.query("CREATE DATABASE bench");
  const init = await pg.runAsOwner(join(pg.binDir, "pgbench"), ["-i", "-s", "3", "-q", "-h", pg.socketDir, "-p", String(pg.port), "bench"]);
  expect(init.code, init.stderr).toBe(0);
  ws = await workspace();
});
afterAll(async () => {
  await pg?.destroy();
  await ws?.cleanup();
});

describe("postgres backup under load", () => {
  it("is consistent while pgbench writes, and pgbench never fails", async () => {
    const pgbench = spawn(
      join(pg.binDir, "pgbench"),
      ["-c", "4", "-j", "2", "-T", "12", "-n", "-h", pg.socketDir, "-p", String(pg.port), "-U", pg.superuser, "bench"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    pgbench.stdout.on("data", (d: Buffer) => (out += d.toString()));
    pgbench.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const benchDone = new Promise<number>((r) => pgbench.on("close", (c) => r(c ?? 1)));
    await new Promise((r) => setTimeout(r, 1500)); // let the writers get going

    const historyBefore = (await pg.query<{ n: number }>("SELECT count(*)::int AS n FROM pgbench_history", "bench"))[0]!.n;
    const first = await runCli(["backup", pg.url("bench"), "--json"], { env: ws.env });
    expect(first.code, first.stderr).toBe(0);
    const second = await runCli(["backup", pg.url("bench"), "--format", "directory", "--jobs", "2", "--json"], { env: ws.env });
    expect(second.code, second.stderr).toBe(0);
    const historyAfter = (await pg.query<{ n: number }>("SELECT count(*)::int AS n FROM pgbench_history", "bench"))[0]!.n;

    expect(await benchDone, out).toBe(0);
    expect(out).toMatch(/number of failed transactions: 0/);
    expect(out).not.toMatch(/ERROR|FATAL|aborted/i);

    for (const b of [first, second]) {
      const m = JSON.parse(b.stdout);
      const history = m.tables.find((t: { name: string }) => t.name === "public.pgbench_history");
      // The snapshot saw a moment in the middle of the load …
      expect(history.rows).toBeGreaterThanOrEqual(historyBefore);
      expect(history.rows).toBeLessThanOrEqual(historyAfter);
      const accounts = m.tables.find((t: { name: string }) => t.name === "public.pgbench_accounts");
      expect(accounts.rows).toBe(300_000);
      // … and what was dumped is exactly that moment: restored counts and checksums match the manifest.
      const v = await runCli(["verify", m.id, "--deep", "--json"], { env: ws.env });
      expect(v.code, v.stdout + v.stderr).toBe(0);
      const deep = JSON.parse(v.stdout).backups[0].deep;
      expect(deep.ok).toBe(true);
      expect(deep.tables.map((t: { checksumMatches: boolean }) => t.checksumMatches)).toEqual([true, true, true, true]);
    }
    expect(historyAfter).toBeGreaterThan(historyBefore);
  });
});
