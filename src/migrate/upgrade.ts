import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Settings } from "../config/load.js";
import { backup } from "../commands/backup.js";
import type { CommandContext } from "../commands/context.js";
import { verify } from "../commands/verify.js";
import { HoldfastError } from "../errors.js";
import { processAlive } from "../repository/claims.js";
import { runChecks, type CheckOptions } from "./checks.js";
import { readAssertions } from "./checks-sql.js";
import { Steps, type RollbackOutcome, type UpgradeReport } from "./report.js";
import { rollBack } from "./upgrade-rollback.js";
import { rollBackByDown } from "./upgrade-rollback-down.js";
import { checkDataDirectory, rollBackToRestorePoint } from "./upgrade-rollback-pitr.js";
import type { MigrationRunner } from "./upgrade-runner.js";
import type { OwnMigrations } from "./upgrade-runner-holdfast.js";
import { checkRequiredStops } from "./upgrade-stops.js";
import { checkRestorePointPossible, createRestorePoint, type UpgradeRestorePoint } from "./restore-point.js";
import { openUpgradeTarget, type DatabaseState, type UpgradeRecord, type UpgradeTarget } from "./upgrade-target.js";

/**
 * Builds the runner once the database is known: `env` carries the connection (for external
 * commands); `run` names this upgrade and its backup (Holdfast's migrator records the backup id).
 */
export type RunnerFactory = (target: UpgradeTarget, env: Record<string, string>, run: { runId: string; backupId?: string }) => MigrationRunner;

export interface UpgradeRequest {
  /** A holdfast.yaml database name, a PostgreSQL URL or a SQLite file. */
  database: string;
  settings: Settings;
  runner: RunnerFactory;
  /** The user's SQL assertions file (see checks-sql.ts). */
  checksFile?: string;
  checks: Omit<CheckOptions, "assertions" | "signal">;
  /** down needs `migrations` (Holdfast's own, with down migrations). */
  rollback: "restore" | "down" | "none";
  requiredStops: string[];
  /** The version this upgrade goes to, when the runner is told (required stops compare with it). */
  to?: string;
  /** SQL returning the application's migration version (default: known tools' tables; SQLite user_version). */
  versionQuery?: string;
  /** Mark upgrades that never finished (a killed process) abandoned instead of refusing. */
  abandonUnfinished?: boolean;
  /** Holdfast's own migrations (--migrations): they name the version and declare required stops. */
  migrations?: OwnMigrations;
  /** Engine options for the rollback's in-place restore (terminateTimeout). */
  restoreOptions?: Record<string, unknown>;
  /**
   * What the way back is: a full logical backup (default), or a PostgreSQL restore point in the
   * WAL archive (see restore-point.ts): no copy of the data, but the way back is a point-in-time
   * restore of the whole cluster, which is not taken automatically.
   */
  rollbackPoint?: "backup" | "restore-point";
  /** restore-point: go on although other databases share the cluster (they would go back too). */
  wholeCluster?: boolean;
  /**
   * restore-point: the server's data directory. Given, a failure is rolled back by itself (stop the
   * server, restore to the restore point in place, start it, prove); without it, never by itself.
   */
  pgdata?: string;
}

/**
 * Backup first (verified), the runner, the checks; on any failure — the runner, a check, an
 * interrupt — restore the backup in place and prove the database equals its state before. Refusals
 * before anything changes throw; once the backup exists the outcome is the report (see finalState).
 */
export async function upgrade(req: UpgradeRequest, ctx: CommandContext): Promise<UpgradeReport> {
  const started = Date.now();
  const runId = `${new Date(started).toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "")}-${randomBytes(3).toString("hex")}`;
  if (req.rollback === "down" && !req.migrations) throw new HoldfastError("USAGE", "--rollback down needs Holdfast's own migrations (--migrations), whose down migrations it runs");
  const target = await openUpgradeTarget(req.database, req.settings);
  const assertions = req.checksFile ? await readAssertions(req.checksFile) : [];
  await settleUnfinished(target, runId, Boolean(req.abandonUnfinished));
  const versionBefore = req.migrations ? await req.migrations.prepare(target) : await target.version(req.versionQuery);
  checkRequiredStops(versionBefore, req.requiredStops, req.to);
  if (req.rollbackPoint === "restore-point" && target.kind !== "postgres") throw new HoldfastError("USAGE", "--rollback-point restore-point needs a PostgreSQL database whose server archives WAL into the repository");
  if (req.pgdata !== undefined && req.rollbackPoint !== "restore-point") throw new HoldfastError("USAGE", "--pgdata goes with --rollback-point restore-point (it names the data directory that rollback restores)");
  const systemId = req.rollbackPoint === "restore-point" ? await checkRestorePointPossible(target.sourceText, req.settings, Boolean(req.wholeCluster), ctx) : undefined;
  const pgdata = req.pgdata !== undefined ? await checkDataDirectory(target.sourceText, req.pgdata) : undefined;

  const steps = new Steps();
  const report: UpgradeReport = { runId, database: target.source, runner: "", ok: false, finalState: "failed", versionBefore, steps: steps.list, checks: [], rollback: { mode: req.rollback, taken: false }, durationMs: 0 };
  ctx.log.info({ runId, database: target.source }, "upgrade started");
  await steps.run("prepare upgrade log", () => target.log.ensure());
  const before = await steps.run("record state", () => target.state(ctx.signal), (s) => `${s.tables.length} table(s), schema ${s.schema.split("\n").length} line(s)`);
  const way = systemId ? await restorePointFirst(target, runId, systemId, req, steps, ctx) : await backupFirst(target, runId, req, steps, ctx);
  report.backupId = way.backupId;
  report.restorePoint = way.restorePoint;

  const { env, cleanup } = await target.runnerEnv(req.settings.tmpDir);
  const pointNote = way.restorePoint ? `restore point ${way.restorePoint.name} at ${way.restorePoint.lsn}` : undefined;
  const record: UpgradeRecord = { runId, state: "running", backupId: way.backupId, runner: "", startedAt: new Date(started).toISOString(), pid: process.pid, host: hostname(), detail: pointNote };
  try {
    const runner = req.runner(target, env, { runId, backupId: way.backupId });
    report.runner = record.runner = runner.describe();
    const other = await target.log.claim(record);
    if (other) throw unfinishedError(target, other, true);
    report.failure = await migrateAndCheck(target, runner, before, assertions, req, steps, report, ctx);
  } finally {
    await cleanup();
  }

  if (!report.failure) {
    report.ok = true;
    report.finalState = "upgraded";
    report.versionAfter = await (req.migrations ? req.migrations.version(target) : target.version(req.versionQuery)).catch(() => undefined);
    await target.log.write({ ...record, state: "succeeded", finishedAt: new Date().toISOString() });
  } else {
    ctx.log.warn({ runId, step: report.failure.step, error: report.failure.message }, "upgrade failed");
    if (req.rollback !== "none") {
      // The interrupt that may have caused this must not stop the rollback.
      const calm = { ...ctx, signal: undefined };
      const point = way.restorePoint;
      const restore = point
        ? async () => (pgdata ? rollBackToRestorePoint(target, point, pgdata, before, req.settings, calm, req.rollback) : notByItself(point, req.rollback))
        : () => rollBack(target, way.backupId, before, req.settings, calm, req.restoreOptions ?? {});
      const own = req.rollback === "down" ? req.migrations : undefined;
      const restored = (r: RollbackOutcome) => (r.by === "restore-point" ? `restored to restore point ${point?.name ?? "?"}` : "restored");
      const how = (r: RollbackOutcome) => (r.by === "down" ? "reverted by the down migrations" : r.downError ? `${restored(r)} (the down migrations could not: ${r.downError})` : restored(r));
      report.rollback = await steps.run("rollback", () => (own ? rollBackByDown(target, own, versionBefore, before, restore) : restore()), (r) => (r.proven ? `${how(r)} and proven equal` : (r.error ?? r.problems?.join("; "))));
      if (!report.rollback.proven) steps.fail(report.rollback.error ?? `not equal to the state before: ${report.rollback.problems?.join("; ")}`);
      report.finalState = report.rollback.proven ? "rolled-back" : "failed";
    }
    const detail = `${report.failure.step}: ${report.failure.message}${pointNote ? `; ${pointNote}` : ""}`;
    await target.log.write({ ...record, state: report.finalState === "rolled-back" ? "rolled-back" : "failed", finishedAt: new Date().toISOString(), detail }).catch((err: unknown) => ctx.log.warn({ error: (err as Error).message }, "could not record the upgrade's outcome"));
  }
  report.durationMs = Date.now() - started;
  ctx.log.info({ runId, finalState: report.finalState, durationMs: report.durationMs }, "upgrade finished");
  return report;
}

/** The default way back: a full backup labelled with the run, verified. */
async function backupFirst(target: UpgradeTarget, runId: string, req: UpgradeRequest, steps: Steps, ctx: CommandContext): Promise<{ backupId: string; restorePoint?: UpgradeRestorePoint }> {
  const manifest = await steps.run("backup", () => backup({ source: target.sourceText, settings: req.settings, kind: "full", labels: { upgrade: runId } }, ctx), (m) => m.id);
  await verifyFirst(manifest.id, "verify backup", "the pre-upgrade backup", req, steps, ctx);
  return { backupId: manifest.id };
}

/** --rollback-point restore-point: a restore point archived into the repository, and its base backup verified. */
async function restorePointFirst(target: UpgradeTarget, runId: string, systemId: string, req: UpgradeRequest, steps: Steps, ctx: CommandContext): Promise<{ backupId: string; restorePoint: UpgradeRestorePoint }> {
  const point = await steps.run("restore point", () => createRestorePoint(target.sourceText, runId, systemId, req.settings), (p) => `${p.name} at ${p.lsn}, segment ${p.segment} archived, reached from base backup ${p.baseBackupId}`);
  await verifyFirst(point.baseBackupId, "verify base backup", "the base backup", req, steps, ctx);
  return { backupId: point.baseBackupId, restorePoint: point };
}

async function verifyFirst(id: string, step: string, what: string, req: UpgradeRequest, steps: Steps, ctx: CommandContext): Promise<void> {
  await steps.run(step, async () => {
    const v = await verify({ refs: [id], all: false, deep: false, settings: req.settings }, ctx);
    if (!v.ok) throw new HoldfastError("VERIFY_FAILED", `${what} ${id} failed verification: ${v.backups[0]?.error?.message ?? "unknown"}`, { hint: "nothing was changed; check the repository (holdfast verify)" });
  });
}

/** Without --pgdata a restore point's way back (the whole cluster) is not taken by itself; the outcome says how. */
function notByItself(point: UpgradeRestorePoint, mode: UpgradeRequest["rollback"]): RollbackOutcome {
  const how = `point-in-time restore of the whole cluster to restore point ${point.name}: ${point.restoreCommand}`;
  return { mode, taken: false, by: "restore", proven: false, error: `not done by itself (${how})` };
}

/** The runner, then the checks; returns the first failure (an error thrown here is a failure too). */
export async function migrateAndCheck(target: UpgradeTarget, runner: MigrationRunner, before: DatabaseState, assertions: CheckOptions["assertions"], req: Pick<UpgradeRequest, "checks">, steps: Steps, report: Pick<UpgradeReport, "runnerOutput" | "checks">, ctx: CommandContext): Promise<UpgradeReport["failure"]> {
  const signal = ctx.signal ?? new AbortController().signal;
  let step = "migrate";
  try {
    const outcome = await steps.run("migrate", () => runner.run(signal), (o) => o.detail);
    report.runnerOutput = outcome.output;
    if (!outcome.ok) {
      steps.fail(outcome.detail);
      return { step, message: `${runner.describe()}: ${outcome.detail}` };
    }
    step = "checks";
    report.checks = await steps.run("checks", () => runChecks(target, before, { ...req.checks, assertions, signal }), (c) => `${c.filter((x) => x.ok).length}/${c.length} passed`);
    const failed = report.checks.filter((c) => !c.ok);
    if (signal.aborted) return { step, message: "interrupted" };
    if (failed.length > 0) {
      steps.fail(`${failed.length} check(s) failed`);
      return { step, message: failed.map((c) => `${c.kind} "${c.name}": ${c.detail}`).join("; ") };
    }
    return undefined;
  } catch (err) {
    return { step, message: signal.aborted ? "interrupted" : (err as Error).message };
  }
}

/** Upgrades of this database that never finished: one running now is LOCKED; a dead one refuses, or is marked abandoned on request. */
async function settleUnfinished(target: UpgradeTarget, runId: string, abandon: boolean): Promise<void> {
  for (const r of await target.log.running()) {
    if (r.host === hostname() && processAlive(r.pid)) throw unfinishedError(target, r, true);
    if (!abandon) throw unfinishedError(target, r, false);
    await target.log.write({ ...r, state: "abandoned", finishedAt: new Date().toISOString(), detail: `marked abandoned by upgrade ${runId}` });
  }
}

function unfinishedError(target: UpgradeTarget, r: UpgradeRecord, running: boolean): HoldfastError {
  if (running) return new HoldfastError("LOCKED", `upgrade ${r.runId} of ${target.source} is running (pid ${r.pid} on ${r.host}, since ${r.startedAt})`, { hint: "wait for it to finish" });
  return new HoldfastError("UPGRADE_REFUSED", `upgrade ${r.runId} of ${target.source} started ${r.startedAt} (pid ${r.pid} on ${r.host}) never finished: the database may be partly migrated`, {
    hint: `put it back as it was before that upgrade with \`holdfast restore ${r.backupId ?? "<backup>"} --in-place\`, or, once you know the database is right, run upgrade again with --abandon-unfinished`,
  });
}
