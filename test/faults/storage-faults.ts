import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { startFaultProxy } from "../support/fault-proxy.js";
import { seedApp } from "../support/pg-data.js";
import { shareWithServer, startArchivingCluster } from "../support/pitr.js";
import { startS3 } from "../support/s3.js";
import { failureText, oneLineError, runBounded, sleep, type Env, type TimedResult } from "./cli-run.js";
import { checksums, clusterQuery, proveLogical, provePhysical } from "./pg-fixture.js";
import { checkRepository, listBackups, proveSqlite, type Ledger, type Prover } from "./repo-check.js";
import type { FaultRow } from "./report.js";
import { mountSmallDisk } from "./small-disk.js";
import { createSource } from "./sqlite-source.js";
import { outcome, runRow, type Plan } from "./trial.js";

/** A storage failure must end the command within this bound (the issue: "within seconds"). */
const BOUND_MS = 30_000;

/** The failed command ended in time, with one clear line; nothing half-made became visible. */
function failedCleanly(r: TimedResult, what: string): string[] {
  if (r.timedOut) return [`${what} still running after ${BOUND_MS / 1000} s (killed)`];
  if (r.code === 0) return [];
  const { problem } = oneLineError(r);
  const problems = problem ? [`${what}: ${problem}`] : [];
  if (r.code === 1) problems.push(`${what}: internal error (exit 1): ${failureText(r)}`);
  return problems;
}

async function sameListing(env: Env, before: Set<string>, success: boolean): Promise<string[]> {
  const now = (await listBackups(env)).map((m) => m.id);
  const extra = now.filter((id) => !before.has(id));
  if (!success && extra.length > 0) return [`a failed backup is listed: ${extra.join(", ")}`];
  return [];
}

/** Full disk: the repository on a tmpfs filled to its last MiB, for SQLite, pg_dump and base backups. */
async function fullDiskRow(plan: Plan): Promise<FaultRow> {
  const ws = await workspace();
  const disk = await mountSmallDisk(join(ws.dir, "small"), 64);
  const repo = join(disk.path, "repo");
  const env: Env = { ...ws.env, HOLDFAST_REPO: repo };
  const init = await runCli(["repo", "init", repo, "--scrypt-work-factor", "10"], { env });
  if (init.code !== 0) throw new Error(`repo init on tmpfs failed: ${failureText(init)}`);
  const diskWs: Workspace = { ...ws, repo, env: env as Record<string, string> };
  await shareWithServer(diskWs);
  const cluster = await startArchivingCluster(diskWs);
  try {
    await seedApp(cluster, "shop", 20_000);
    const expected = await checksums(clusterQuery(cluster, "shop"));
    const logical = proveLogical(cluster, () => expected);
    const physical = provePhysical("shop", () => expected);
    const prove: Prover = (m, s, e) => (m.engine === "sqlite" ? proveSqlite : m.engine === "postgres-physical" ? physical : logical)(m, s, e);
    const ledger: Ledger = { env, scratch: ws.dir, prove, known: new Set(), proven: new Set() };
    const small = createSource(ws.dir, "small", 200);
    const big = createSource(ws.dir, "big", plan.quick ? 15_000 : 40_000);
    const first = await runCli(["backup", `sqlite:${small}`], { env });
    if (first.code !== 0) throw new Error(`backup before the fault failed: ${failureText(first)}`);
    const setup = await checkRepository(ledger);
    const kinds = [
      { what: "backup sqlite (full disk)", args: ["backup", `sqlite:${big}`] },
      { what: "backup postgres logical (full disk)", args: ["backup", cluster.url("shop")] },
      { what: "backup postgres physical (full disk)", args: ["backup", "--type", "physical", cluster.url(), "--wal-wait", "10"] },
    ];
    return await runRow("full disk (repository on a full tmpfs)", plan.trials, plan, async (n) => {
      const kind = kinds[(n - 1) % kinds.length]!;
      const before = new Set(ledger.known);
      await disk.fill(64 * 1024);
      let r: TimedResult;
      try {
        r = await runBounded(kind.args, env, BOUND_MS);
      } finally {
        await disk.drain();
      }
      const problems = failedCleanly(r, kind.what);
      if (r.code === 0) problems.push(`${kind.what} reported success on a full disk`);
      problems.push(...(await sameListing(env, before, r.code === 0)));
      const live = await checksums(clusterQuery(cluster, "shop"));
      const damaged = live !== expected;
      if (damaged) problems.push("live database changed");
      const after = await runBounded(["backup", `sqlite:${small}`], env, BOUND_MS);
      if (after.code !== 0) problems.push(`a small backup once space is back failed (${after.code}): ${failureText(after)}`);
      const repoCheck = await checkRepository(ledger);
      return outcome([...problems, ...repoCheck.problems], repoCheck.lostOrCorrupt, damaged ? 1 : 0, r.code !== 0 && !r.timedOut);
    }, setup);
  } finally {
    await cluster.destroy();
    await disk.unmount();
    await ws.cleanup();
  }
}

async function s3Workspace(endpoint: string, env: Record<string, string>, ws: Workspace): Promise<Env> {
  const repo = `s3://holdfast/r-${randomBytes(4).toString("hex")}`;
  const e: Env = { ...ws.env, ...env, HOLDFAST_S3_ENDPOINT: endpoint, HOLDFAST_REPO: repo };
  const init = await runCli(["repo", "init", repo, "--scrypt-work-factor", "10"], { env: e });
  if (init.code !== 0) throw new Error(`repo init on S3 failed: ${failureText(init)}`);
  return e;
}

/** s3rver SIGKILLed at a random moment of an upload, then started again. */
async function s3KilledRow(plan: Plan): Promise<FaultRow> {
  const server = await startS3(["holdfast"]);
  const ws = await workspace();
  try {
    const env = await s3Workspace(server.endpoint, server.env, ws);
    const ledger: Ledger = { env, scratch: ws.dir, prove: proveSqlite, known: new Set(), proven: new Set() };
    const src = createSource(ws.dir, "app", plan.quick ? 15_000 : 40_000);
    const calibration = await runBounded(["backup", `sqlite:${src}`], env);
    if (calibration.code !== 0) throw new Error(`backup to S3 failed: ${failureText(calibration)}`);
    const setup = await checkRepository(ledger);
    return await runRow("S3 server killed mid-upload", plan.trials, plan, async () => {
      const before = new Set(ledger.known);
      const running = runBounded(["backup", `sqlite:${src}`], env, BOUND_MS * 2);
      await sleep(plan.rng.next() * calibration.ms);
      await server.kill();
      const r = await running;
      await server.restart();
      const problems = failedCleanly(r, "backup while S3 died");
      problems.push(...(await sameListing(env, before, r.code === 0)));
      const after = await runBounded(["backup", `sqlite:${src}`], env, BOUND_MS);
      if (after.code !== 0) problems.push(`the same backup once S3 is back failed (${after.code}): ${failureText(after)}`);
      const repoCheck = await checkRepository(ledger);
      return outcome([...problems, ...repoCheck.problems], repoCheck.lostOrCorrupt, 0, r.code !== 0 ? !r.timedOut : undefined);
    }, setup);
  } finally {
    await server.stop();
    await ws.cleanup();
  }
}

/** A storm of 503s (a random share of every request, up to all of them) through the fault proxy. */
async function s3StormRow(plan: Plan): Promise<FaultRow> {
  const server = await startS3(["holdfast"]);
  const proxy = await startFaultProxy(server.endpoint);
  const ws = await workspace();
  try {
    const env = await s3Workspace(proxy.endpoint, server.env, ws);
    const ledger: Ledger = { env, scratch: ws.dir, prove: proveSqlite, known: new Set(), proven: new Set() };
    const src = createSource(ws.dir, "app", plan.quick ? 5_000 : 20_000);
    const first = await runBounded(["backup", `sqlite:${src}`], env);
    if (first.code !== 0) throw new Error(`backup to S3 failed: ${failureText(first)}`);
    const setup = await checkRepository(ledger);
    return await runRow("S3 5xx storm", plan.trials, plan, async (n) => {
      const share = n === 1 ? 1 : 0.3 + 0.7 * plan.rng.next();
      const rng = plan.rng.fork(`storm-${n}`);
      const before = new Set(ledger.known);
      proxy.setRule(() => (rng.next() < share ? { status: 503, code: "SlowDown" } : undefined));
      let r: TimedResult;
      try {
        r = await runBounded(["backup", `sqlite:${src}`], env, BOUND_MS * 2);
      } finally {
        proxy.setRule(undefined);
      }
      const problems = failedCleanly(r, `backup in a storm (${Math.round(share * 100)} % of requests 503)`);
      problems.push(...(await sameListing(env, before, r.code === 0)));
      const repoCheck = await checkRepository(ledger);
      return outcome([...problems, ...repoCheck.problems], repoCheck.lostOrCorrupt, 0, r.code !== 0 ? !r.timedOut : undefined);
    }, setup);
  } finally {
    await proxy.close();
    await server.stop();
    await ws.cleanup();
  }
}

export async function storageFaultRows(plan: Plan): Promise<FaultRow[]> {
  return [await fullDiskRow(plan), await s3KilledRow(plan), await s3StormRow(plan)];
}
