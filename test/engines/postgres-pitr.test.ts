import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { shareWithServer, startArchivingCluster, startRestored, switchAndWaitArchived } from "../support/pitr.js";

/**
 * Point-in-time recovery on real clusters: archive_command is the built CLI's wal-push (running as
 * the postgres OS user), restores run PostgreSQL's own recovery through wal-fetch.
 */
let ws: Workspace;
let cluster: PgCluster;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ids = async (q: (sql: string) => Promise<Record<string, unknown>[]>) => (await q("SELECT id FROM events ORDER BY id")).map((r) => Number(r.id));
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

beforeAll(async () => {
  ws = await workspace();
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws);
});
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("PostgreSQL point-in-time recovery", () => {
  let targetTime: string;

  it("takes a base backup only once its WAL is in the repository, and records the WAL range", async () => {
    await cluster.query("CREATE TABLE events (id int PRIMARY KEY, batch int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())");
    await cluster.query(`INSERT INTO events (id, batch) SELECT g, 1 FROM generate_series(1, 10) g`);
    const b = await runCli(["backup", "--type", "physical", cluster.url(), "--json"], { env: ws.env });
    expect(b.code, b.stderr).toBe(0);
    const m = JSON.parse(b.stdout);
    expect(m.engine).toBe("postgres-physical");
    expect(m.details.timeline).toBe(1);
    expect(m.details.startLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(m.details.systemIdentifier).toMatch(/^\d+$/);
    expect(m.files[0].encryption).toBe("age");
    expect(m.files[0].compression.algorithm).toBe("zstd");
    // Every segment from walStart to walStop and the .backup file are archived (records present).
    const tl = join(ws.repo, "wal", "00000001");
    const names = await readdir(tl);
    for (const f of [m.details.walStart, m.details.walStop, m.details.backupHistoryFile]) expect(names).toContain(`${f}.json`);
    expect(names.filter((n) => n.endsWith(".zst.age")).length).toBeGreaterThan(1);

    await cluster.query(`INSERT INTO events (id, batch) SELECT g, 2 FROM generate_series(11, 20) g`);
    await sleep(300);
    const [row] = await cluster.query<{ now: Date }>("SELECT clock_timestamp() AS now");
    targetTime = row!.now.toISOString();
    await sleep(300);
    await cluster.query(`INSERT INTO events (id, batch) SELECT g, 3 FROM generate_series(21, 30) g`);
    await switchAndWaitArchived((sql) => cluster.query(sql));
  });

  it("setup-archiving prints the exact settings and finds the server archiving into this repository", async () => {
    const r = await runCli(["setup-archiving", cluster.url()], { env: ws.env });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("archive_mode = on");
    expect(r.stdout).toMatch(/archive_command = '.*node .*wal-push-main\.js %p --repo .*repo'/);
    expect(r.stdout).toMatch(/ok {4} pg_stat_archiver: \d+ archived \(last [0-9A-F]{24}/);
    expect(r.stdout).toMatch(/ok {4} last archived segment in repository/);
  });

  it("wal verify shows a gap-free chain and the recovery window", async () => {
    const v = await runCli(["wal", "verify", "--json"], { env: ws.env });
    expect(v.code, v.stderr + v.stdout).toBe(0);
    const r = JSON.parse(v.stdout);
    expect(r.ok).toBe(true);
    expect(r.timelines[0].missingCount).toBe(0);
    expect(r.backups[0].consistent).toBe(true);
    expect(r.window.earliest.backupId).toBe(r.backups[0].backupId);
    expect(r.window.latest.timeline).toBe(1);
    // verify --deep restores the base backup to scratch and lets PostgreSQL reach consistency.
    const deep = await runCli(["verify", "latest", "--deep", "--json"], { env: ws.env });
    expect(deep.code, deep.stderr).toBe(0);
    expect(JSON.parse(deep.stdout).backups[0].deep.details.stoppedAt).toMatch(/recovery stopping after reaching consistency/);
  });

  it("restores to latest: every archived row, promoted, ready to start", async () => {
    const dir = join(ws.dir, "latest");
    const r = await runCli(["restore", "--type", "physical", "--to", dir, "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.redoDoneLsn).toMatch(/\//);
    const auto = await readFile(join(dir, "postgresql.auto.conf"), "utf8");
    expect(auto).toMatch(/# \(used by the restore\) restore_command = 's=pg_wal\/holdfast-prefetch\/%f; .*test -f "\$s" && mv -f "\$s" %p \|\| .*wal-fetch-client\.js %f %p \/\S*hf-walfetch-/);
    expect(auto).not.toContain("correct horse");
    const server = await startRestored(dir);
    try {
      expect(await ids((sql) => server.query(sql))).toEqual(range(1, 30));
    } finally {
      await server.stop();
    }
  });

  it("restores to a time between two batches: exactly the rows committed before it", async () => {
    const dir = join(ws.dir, "pitr");
    // This copy takes over (a failover): it archives its new timeline, so later restores can follow it.
    const r = await runCli(["restore", "--type", "physical", "--to", dir, "--target-time", targetTime, "--archive", "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).stoppedAt).toMatch(/recovery stopping before commit/);
    const server = await startRestored(dir);
    try {
      expect(await ids((sql) => server.query(sql))).toEqual(range(1, 20));
      // The restored cluster lives on a new timeline and archives into the same repository.
      await server.query("INSERT INTO events (id, batch) SELECT g, 4 FROM generate_series(101, 105) g");
      await switchAndWaitArchived((sql) => server.query(sql));
    } finally {
      await server.stop();
    }
  });

  it("follows the timeline switch; refuses a non-empty target, and --replace keeps a safety copy", async () => {
    const dir = join(ws.dir, "latest");
    const refused = await runCli(["restore", "--type", "physical", "--to", dir], { env: ws.env });
    expect(refused.code).toBe(18);
    expect(errorLine(refused)).toMatch(/is not empty/);
    const r = await runCli(["restore", "--type", "physical", "--to", dir, "--replace", "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const safety = JSON.parse(r.stdout).safetyCopy as string;
    expect(await readFile(join(safety, "PG_VERSION"), "utf8")).toMatch(/^\d+/);
    const server = await startRestored(dir);
    try {
      // Restoring latest follows the newest timeline: the rows written after the first PITR.
      expect(await ids((sql) => server.query(sql))).toEqual([...range(1, 20), ...range(101, 105)]);
      const [cp] = await server.query<{ tl: number }>("SELECT timeline_id AS tl FROM pg_control_checkpoint()");
      expect(cp!.tl).toBeGreaterThanOrEqual(3);
    } finally {
      await server.stop();
    }
    const v = await runCli(["wal", "verify", "--json"], { env: ws.env });
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).timelines.map((t: { timeline: number }) => t.timeline)).toEqual(expect.arrayContaining([1, 2]));
  });
});
