import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CLI, runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { archiveCommandFor, loseArchivedSegment, runAsServerUser, shareWithServer, switchAndWaitArchived } from "../support/pitr.js";

/**
 * wal-push takes along every file PostgreSQL has marked ready, in parallel, and leaves a marker
 * for each; PostgreSQL's later calls for them return at once from the lean entry point. Archiving
 * stays off (archive_command 'false') while the ready files pile up, so the test drives the calls.
 */
let ws: Workspace;
let cluster: PgCluster;
let ready: string[];

const pushAsServer = (name: string) => runAsServerUser([process.execPath, join(dirname(CLI), "wal-push-main.js"), join(cluster.dataDir, "pg_wal", name), "--repo", ws.repo]);
const archived = (name: string) => existsSync(join(ws.repo, "wal", name.slice(0, 8), `${name}.json`));
const markers = async () => (await readdir(join(cluster.dataDir, "pg_wal", "holdfast-archived")).catch(() => [] as string[])).sort();

beforeAll(async () => {
  ws = await workspace();
  await shareWithServer(ws);
  cluster = await startCluster({ initdbArgs: ["--wal-segsize=1"], conf: { wal_level: "replica", archive_mode: "on", archive_command: "'false'" } });
  await cluster.query("CREATE TABLE t (id int)");
  for (let i = 0; i < 6; i++) {
    await cluster.query(`INSERT INTO t VALUES (${i})`);
    await cluster.query("SELECT pg_switch_wal()");
  }
  ready = (await readdir(join(cluster.dataDir, "pg_wal", "archive_status"))).filter((n) => /^[0-9A-F]{24}\.ready$/.test(n)).map((n) => n.slice(0, 24)).sort();
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("wal-push of the files PostgreSQL has marked ready", () => {
  it("pushes every ready file in one call, refuses one archived with other content, and later calls return at once", async () => {
    expect(ready.length).toBeGreaterThanOrEqual(6);
    // Another cluster's file under one of these names is already in the repository.
    const conflicting = ready[2]!;
    const other = join(ws.dir, "other");
    await mkdir(other);
    const size = (await stat(join(cluster.dataDir, "pg_wal", conflicting))).size;
    await writeFile(join(other, conflicting), randomBytes(size));
    const planted = await runCli(["wal-push", join(other, conflicting)], { env: ws.env });
    expect(planted.code, planted.stderr).toBe(0);
    await shareWithServer(ws); // pushed as root: the server's OS user writes there too

    const first = await pushAsServer(ready[0]!);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(new RegExp(`"file":"${conflicting}".*already archived in .* with different content`));
    for (const name of ready) expect(archived(name), name).toBe(true);
    const along = ready.slice(1).filter((n) => n !== conflicting);
    expect(await markers()).toEqual(along);

    const started = Date.now();
    const second = await pushAsServer(ready[1]!);
    const ms = Date.now() - started;
    expect(second.code, second.out).toBe(0);
    expect(second.out).toBe(""); // nothing loaded, nothing logged: the marker answered
    expect(ms).toBeLessThan(3000);
    expect(await markers()).toEqual(along.filter((n) => n !== ready[1]));

    const refused = await pushAsServer(conflicting);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/already archived in .* with different content/);
  });

  it("PostgreSQL's own archiver then goes through the markers and archives what follows", async () => {
    const conflicting = ready[2]!;
    await loseArchivedSegment(ws, conflicting);
    await cluster.query(`ALTER SYSTEM SET archive_command = '${archiveCommandFor(ws, true).replace(/'/g, "''")}'`);
    await cluster.query("SELECT pg_reload_conf()");
    await cluster.query("INSERT INTO t VALUES (100)");
    const last = await switchAndWaitArchived((sql) => cluster.query(sql));
    for (const name of [...ready, last]) expect(archived(name), name).toBe(true);
    const [a] = await cluster.query<{ failed: number }>("SELECT failed_count::int AS failed FROM pg_stat_archiver");
    expect(await markers()).toEqual([]);
    const v = await runCli(["wal", "verify", "--json"], { env: ws.env });
    expect(JSON.parse(v.stdout).timelines[0].missingCount, v.stdout).toBe(0);
    expect(a!.failed).toBeGreaterThan(0); // 'false' failed before; the point is that it caught up
  });
});
