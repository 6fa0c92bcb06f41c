import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { access, rm } from "node:fs/promises";
import { join } from "node:path";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { loseArchivedSegment, shareWithServer, startArchivingCluster, startRestored, switchAndWaitArchived } from "../support/pitr.js";

/** A WAL segment lost from the archive: found by wal verify and by restore, never a silent partial recovery. */
let ws: Workspace;
let cluster: PgCluster;
let lost: string;
let afterGap: string;

beforeAll(async () => {
  ws = await workspace();
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws, { lean: true });
  await cluster.query("CREATE TABLE t (id int)");
  const b = await runCli(["backup", "--type", "physical", cluster.url()], { env: ws.env });
  if (b.code !== 0) throw new Error(b.stderr);
  const q = (sql: string) => cluster.query(sql);
  await q("INSERT INTO t VALUES (1)");
  await q("SELECT pg_create_restore_point('before_gap')");
  await switchAndWaitArchived(q);
  await q("INSERT INTO t VALUES (2)");
  lost = await switchAndWaitArchived(q);
  await q("INSERT INTO t VALUES (3)");
  await new Promise((r) => setTimeout(r, 300));
  const [now] = await cluster.query<{ t: Date }>("SELECT clock_timestamp() AS t");
  afterGap = now!.t.toISOString();
  await new Promise((r) => setTimeout(r, 300));
  await q("INSERT INTO t VALUES (4)");
  await switchAndWaitArchived(q);
  // The loss: record and data of one segment in the middle of the chain.
  await loseArchivedSegment(ws, lost);
});
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("a gap in the archived WAL", () => {
  it("wal verify names the missing segment and fails", async () => {
    const v = await runCli(["wal", "verify"], { env: ws.env });
    expect(v.code).toBe(16);
    expect(v.stdout).toContain(`MISSING: ${lost}`);
    expect(v.stdout).toMatch(new RegExp(`stops at missing segment ${lost}`));
    expect(errorLine(v)).toContain(lost);
  });

  it("restore to latest refuses, naming the segment and the furthest reachable point", async () => {
    const dir = join(ws.dir, "latest");
    const r = await runCli(["restore", "--type", "physical", "--to", dir], { env: ws.env });
    expect(r.code).toBe(17);
    expect(errorLine(r)).toMatch(new RegExp(`WAL segment ${lost} is missing .*furthest reachable point is LSN [0-9A-F]+/[0-9A-F]+`));
    await expect(access(dir)).rejects.toThrow();
  });

  it("restore to a time beyond the gap fails after PostgreSQL's own recovery, with the same facts", async () => {
    const dir = join(ws.dir, "pitr");
    const r = await runCli(["restore", "--type", "physical", "--to", dir, "--target-time", afterGap], { env: ws.env });
    expect(r.code).toBe(17);
    expect(errorLine(r)).toMatch(new RegExp(`could not reach time .*segment ${lost} is missing from the archive; the furthest reachable point is LSN`));
    await expect(access(dir)).rejects.toThrow();
    expect(r.stderr).toMatch(/server log: .*pitr\.holdfast-recovery\.log/);
  });

  it("an LSN target beyond the gap is refused before anything is written", async () => {
    const [row] = await cluster.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
    const r = await runCli(["restore", "--type", "physical", "--to", join(ws.dir, "lsn"), "--target-lsn", row!.lsn], { env: ws.env });
    expect(r.code).toBe(17);
    expect(errorLine(r)).toContain(`segment ${lost} is missing`);
  });

  it("a target before the gap still restores (here a named restore point)", async () => {
    const dir = join(ws.dir, "named");
    const r = await runCli(["restore", "--type", "physical", "--to", dir, "--target-name", "before_gap", "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).stoppedAt).toMatch(/recovery stopping at restore point "before_gap"/);
    const server = await startRestored(dir);
    try {
      expect(await server.query("SELECT id FROM t ORDER BY id")).toEqual([{ id: 1 }]);
    } finally {
      await server.stop();
    }
  });

  it("verify fails a base backup whose own WAL is gone, naming the segment", async () => {
    const ok = await runCli(["verify", "latest"], { env: ws.env });
    expect(ok.code, ok.stderr).toBe(0);
    const m = JSON.parse((await runCli(["show", "latest", "--json"], { env: ws.env })).stdout);
    const first = m.details.walStart as string;
    await rm(join(ws.repo, "wal", first.slice(0, 8), `${first}.json`));
    const bad = await runCli(["verify", "latest"], { env: ws.env });
    expect(bad.code).toBe(16);
    expect(errorLine(bad)).toContain(`WAL segment ${first}`);
  });

  it("setup-archiving against another repository reports the mismatch", async () => {
    const other = join(ws.dir, "other-repo");
    expect((await runCli(["repo", "init", other, "--encryption", "none"], { env: ws.env })).code).toBe(0);
    const r = await runCli(["setup-archiving", cluster.url(), "--repo", other], { env: ws.env });
    expect(r.code).toBe(26);
    expect(r.stdout).toMatch(/FAILED archive_command/);
    expect(r.stdout).toMatch(/FAILED last archived segment in repository: [0-9A-F]{24} is not in/);
  });
});
