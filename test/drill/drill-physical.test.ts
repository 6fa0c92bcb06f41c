import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { EXIT_CODES } from "../../src/errors.js";
import { processAlive } from "../../src/repository/claims.js";
import { errorLine, runCli, startCli, workspace, type Workspace } from "../support/cli.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { shareWithServer, startArchivingCluster, switchAndWaitArchived } from "../support/pitr.js";

/**
 * `holdfast drill --type physical` on a real cluster archiving into the repository: recovery to a
 * point in time in a cluster the drill starts and owns, the recovery point checked against the
 * request; a target past the end of the archive is INCONCLUSIVE, never a pass; a drill killed
 * while its server runs leaves a server and a folder that the next drill stops and removes.
 */
let ws: Workspace;
let cluster: PgCluster;
let beforeBatch2: string;

const drillFolders = async () => (await readdir(ws.dir)).filter((n) => n.startsWith("holdfast-drill-"));
const drill = (args: string[]) => runCli(["drill", cluster.url(), "--type", "physical", "--json", ...args], { env: ws.env });

beforeAll(async () => {
  ws = await workspace();
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws, { lean: true });
  await cluster.query("CREATE TABLE events (id serial PRIMARY KEY, batch int NOT NULL); INSERT INTO events (batch) SELECT 1 FROM generate_series(1, 10)");
  const b = await runCli(["backup", "--type", "physical", cluster.url()], { env: ws.env });
  expect(b.code, b.stderr).toBe(0);
  await cluster.query("INSERT INTO events (batch) SELECT 2 FROM generate_series(1, 10)");
  await sleep(300);
  beforeBatch2 = (await cluster.query<{ now: Date }>("SELECT clock_timestamp() AS now"))[0]!.now.toISOString();
  await sleep(300);
  await cluster.query("INSERT INTO events (batch) SELECT 3 FROM generate_series(1, 10)");
  await switchAndWaitArchived((sql) => cluster.query(sql));
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("holdfast drill (PostgreSQL physical)", () => {
  it("passes at a point in time: recovery stopped at the target, last commit before it, RTO with a recovery phase, RPO to the target", async () => {
    const r = await drill(["--target-time", beforeBatch2]);
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec).toMatchObject({ verdict: "PASS", engine: "postgres-physical", requested: { kind: "time", time: beforeBatch2 } });
    expect(rec.phases.map((p: { name: string }) => p.name)).toEqual(["fetch", "decode", "restore", "recovery", "checks"]);
    const point = rec.checks.filter((c: { layer: string }) => c.layer === "recovery-point");
    expect(point.map((c: { name: string; status: string }) => [c.name, c.status])).toEqual([["target reached", "pass"], ["last replayed commit", "pass"]]);
    expect(point[0].detail).toMatch(/^recovery stopping before commit of transaction/);
    expect(Date.parse(rec.rpo.newestData)).toBeLessThanOrEqual(Date.parse(beforeBatch2));
    expect(rec.rpo.ms).toBeGreaterThanOrEqual(300);
    expect(rec.rpo.ms).toBeLessThan(5_000);
    expect(rec.checks.find((c: { layer: string }) => c.layer === "engine")).toMatchObject({ name: "write probe", status: "pass" });
    expect(rec.checks.find((c: { layer: string }) => c.layer === "sequences")).toMatchObject({ name: "events_id_seq", status: "pass" });
    expect(await drillFolders()).toEqual([]);
  });

  it("is INCONCLUSIVE, not a pass, for a target past the end of the archive", async () => {
    await sleep(1200);
    const past = new Date(Date.now() - 200).toISOString();
    const r = await drill(["--target-time", past]);
    expect(r.code, r.stderr).toBe(EXIT_CODES.DRILL_INCONCLUSIVE);
    expect(errorLine(r)).toMatch(/INCONCLUSIVE: recovery-point target within the archive: the requested time .* is past the end of the archive/);
    const list = JSON.parse((await runCli(["drills", "--json"], { env: ws.env })).stdout);
    expect(list.drills[0]).toMatchObject({ verdict: "INCONCLUSIVE", engine: "postgres-physical" });
  });

  it("a drill killed while its server runs leaves a server and a folder; the next drill stops and removes them", async () => {
    const child = startCli(["drill", cluster.url(), "--type", "physical"], { env: ws.env });
    child.stdin!.end();
    const deadline = Date.now() + 40_000;
    let pidFile: string | undefined;
    while (!pidFile && Date.now() < deadline) {
      for (const f of await drillFolders()) if (existsSync(join(ws.dir, f, "data", "postmaster.pid"))) pidFile = join(ws.dir, f, "data", "postmaster.pid");
      await sleep(10);
    }
    expect(pidFile).toBeDefined();
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    const serverPid = Number((await readFile(pidFile!, "utf8")).split("\n")[0]);
    expect(processAlive(serverPid)).toBe(true);

    const next = await drill([]);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout).verdict).toBe("PASS");
    expect(processAlive(serverPid)).toBe(false);
    expect(await drillFolders()).toEqual([]);
  });
});
