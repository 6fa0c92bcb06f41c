import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { lockFiles, markedProcesses, multipartParts, mountSmallDisk, processMark, runCliWithin, type SmallDisk, type TimedRun } from "../support/faults.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { shareWithServer, startArchivingCluster, switchAndWaitArchived } from "../support/pitr.js";
import { startS3, type S3Server } from "../support/s3.js";
import { createDatabase } from "../support/sqlite.js";

/**
 * A storage failure in the middle of a backup ends the command within seconds with the storage
 * error: no hang on a full pipe, no pg_basebackup/pg_dump left running, no lock left behind, and
 * the next backup goes through once storage is back. Real faults: a full tmpfs, a killed s3rver.
 */
const LIMIT_MS = 90_000; // a hung run is killed here and reported as hung
const QUICK_MS = 30_000; // what "within seconds" must mean

let ws: Workspace;
let disk: SmallDisk;
let repo: string;
let cluster: PgCluster;
let env: Record<string, string>;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("these tests mount a tmpfs: run them as root (as CI does)");
  ws = await workspace();
  disk = await mountSmallDisk(join(ws.dir, "small"), 160);
  repo = join(disk.path, "repo");
  env = { ...ws.env, HOLDFAST_REPO: repo };
  const init = await runCli(["repo", "init", repo, "--encryption", "age", "--scrypt-work-factor", "10"], { env });
  expect(init.code, init.stderr).toBe(0);
  await shareWithServer(ws); // the server's OS user archives into the small repository
  cluster = await startArchivingCluster({ ...ws, repo }, { lean: true });
  // ~8 MB that compresses poorly: more than one 5 MiB multipart part, still mid-stream when storage fails.
  await cluster.query("CREATE TABLE filler AS SELECT g, (SELECT string_agg(md5(random()::text || i || g), '') FROM generate_series(1, 20) i) AS t FROM generate_series(1, 12000) g");
  await switchAndWaitArchived((sql) => cluster.query(sql));
});
afterAll(async () => {
  await cluster?.destroy();
  await disk?.unmount();
  await ws?.cleanup();
});

/** The fault's one line, within seconds, nothing of the run left alive or locked. */
async function expectCleanFailure(r: TimedRun, mark: string, code: number, message: RegExp, lockRepo?: string): Promise<void> {
  expect(r.hung, `still running after ${LIMIT_MS} ms: ${r.stderr.slice(-2000)}`).toBe(false);
  expect(r.code, r.stderr.slice(-2000)).toBe(code);
  expect(r.ms).toBeLessThan(QUICK_MS);
  expect(errorLine(r)).toMatch(message);
  expect(r.stderr.split("\n").filter((l) => l.startsWith("holdfast: error: "))).toHaveLength(1);
  await sleep(200);
  expect(await markedProcesses(mark)).toEqual([]);
  if (lockRepo) expect(await lockFiles(lockRepo)).toEqual([]);
}

describe("backup into a full local repository (tmpfs)", () => {
  const cases: [string, () => string[]][] = [
    ["physical base backup", () => ["backup", "--type", "physical", cluster.url(), "--wal-wait", "30"]],
    ["PostgreSQL logical, custom format", () => ["backup", cluster.url()]],
    ["PostgreSQL logical, directory format", () => ["backup", cluster.url(), "--format", "directory"]],
    ["PostgreSQL logical, directory format stored 2 files at a time", () => ["backup", cluster.url(), "--format", "directory", "--jobs", "2"]],
    ["SQLite", () => {
      const db = join(ws.dir, "app.db");
      createDatabase(db, 60_000);
      return ["backup", `sqlite:${db}`];
    }],
  ];
  for (const [name, args] of cases) {
    it(`${name}: NO_SPACE within seconds, children stopped, lock released; the next backup succeeds`, async () => {
      const argv = args();
      const mark = processMark();
      await disk.fill(256 * 1024);
      let r: TimedRun;
      try {
        r = await runCliWithin(argv, LIMIT_MS, { env: { ...env, ...mark.env } });
      } finally {
        await disk.unfill();
      }
      await expectCleanFailure(r, mark.value, 15, /no space left on device/i, repo);
      // Archiving failed while the disk was full: let it catch up before a physical backup.
      await switchAndWaitArchived((sql) => cluster.query(sql));
      const again = await runCliWithin(argv, LIMIT_MS, { env });
      expect(again.code, again.stderr.slice(-2000)).toBe(0);
      expect(await lockFiles(repo)).toEqual([]);
    });
  }
});

describe("backup to an S3 server killed mid-upload", () => {
  let s3: S3Server;
  const s3repo = "s3://holdfast/killed";
  beforeAll(async () => {
    s3 = await startS3();
    const init = await runCli(["repo", "init", s3repo, "--encryption", "age", "--scrypt-work-factor", "10"], { env: { ...ws.env, ...s3.env } });
    expect(init.code, init.stderr).toBe(0);
  });
  afterAll(async () => {
    await s3?.stop();
  });

  const cases: [string, string[]][] = [
    ["physical base backup", ["--type", "physical", "--compression", "none", "--wal-wait", "2"]],
    ["PostgreSQL logical, custom format", ["--compression", "none"]],
  ];
  for (const [name, flags] of cases) {
    it(`${name}: the storage error within seconds, children stopped, lock released`, async () => {
      const mark = processMark();
      const s3env = { ...ws.env, ...s3.env, HOLDFAST_REPO: s3repo };
      const before = await multipartParts(s3.directory);
      const run = runCliWithin(["backup", cluster.url(), ...flags], LIMIT_MS, { env: { ...s3env, ...mark.env } });
      const deadline = Date.now() + 60_000;
      while ((await multipartParts(s3.directory)) <= before && Date.now() < deadline) await sleep(10);
      const killed = (await multipartParts(s3.directory)) > before;
      await s3.kill();
      const r = await run;
      await s3.restart();
      expect(killed).toBe(true);
      await expectCleanFailure(r, mark.value, 19, /cannot reach http:\/\/127\.0\.0\.1:\d+ \((ECONNREFUSED|ECONNRESET|EPIPE)\) while accessing s3:\/\/holdfast\/killed\//);
      // The lock went with the failed run: the next one is not refused as LOCKED.
      const again = await runCliWithin(["backup", cluster.url(), ...flags], LIMIT_MS, { env: s3env });
      expect(again.code, again.stderr.slice(-2000)).not.toBe(13);
      // A physical one waits for WAL this repository never receives (the server archives elsewhere).
      if (flags.includes("physical")) expect(errorLine(again)).toMatch(/has not reached the repository/);
      else expect(again.code, again.stderr.slice(-2000)).toBe(0);
    });
  }
});
