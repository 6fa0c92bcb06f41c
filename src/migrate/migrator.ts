import { HoldfastError } from "../errors.js";
import { applyMigration, noTransactionReason, type Applied, type ApplyOptions } from "./apply.js";
import { CHECKSUM_ALGORITHM, checksumOf } from "./checksum.js";
import { findDestructive, measure, type DestructiveChange } from "./destructive.js";
import type { Migration } from "./files.js";
import { appliedBy, deleteHistory, readHistory, recordRepair } from "./history.js";
import { needsNoTransaction } from "./no-transaction.js";
import { splitStatements } from "./split.js";
import { assertConsistent, currentHistory, statusOf } from "./status.js";
import type { MigrationTarget, TimeoutOptions } from "./target.js";

export interface MigrateOptions {
  /** up: the version to stop at (default the last); down: the version to go back to (default one step back). */
  to?: number;
  /** Apply changes that discard data (plan lists them). */
  allowDataLoss?: boolean;
  timeouts?: Partial<TimeoutOptions>;
  lockRetries?: number;
  retryBackoffMs?: number;
  /** Recorded in each history row written (the backup taken before an upgrade). */
  backupId?: string;
  signal?: AbortSignal;
}

export const DEFAULT_TIMEOUTS: TimeoutOptions = { lockTimeoutMs: 2000, statementTimeoutMs: 0, waitMs: 10 * 60_000 };

export interface PlannedMigration {
  version: number;
  name: string;
  direction: "up" | "down";
  statements: number;
  /** Why it runs statement by statement (undefined: one transaction). */
  noTransaction?: string;
  destructive: DestructiveChange[];
}

export interface Plan {
  target: string;
  current: number | null;
  to: number | null;
  migrations: PlannedMigration[];
  /** Changes that would discard rows now (or whose loss could not be measured): need allowDataLoss. */
  dataLoss: DestructiveChange[];
}

export interface UpResult {
  target: string;
  from: number | null;
  to: number | null;
  applied: Applied[];
  current: number | null;
}

export interface DownResult {
  target: string;
  from: number | null;
  to: number | null;
  reverted: { version: number; name: string; executionMs: number }[];
  current: number | null;
}

/** What `up` (or `down`) would do, with the data each destructive change would discard. Changes nothing. */
export async function migratePlan(target: MigrationTarget, migrations: readonly Migration[], o: Pick<MigrateOptions, "to"> & { direction?: "up" | "down" } = {}): Promise<Plan> {
  const report = statusOf(target, migrations, await currentHistory(target));
  assertConsistent(report);
  const direction = o.direction ?? "up";
  const chosen = direction === "up" ? pendingUpTo(migrations, report, o.to) : revertDownTo(migrations, report, o.to);
  const planned: PlannedMigration[] = [];
  for (const m of chosen) {
    const text = direction === "up" ? m.up : m.down!;
    const stmts = splitStatements(text);
    planned.push({
      version: m.version,
      name: m.name,
      direction,
      statements: stmts.length,
      noTransaction: direction === "up" ? noTransactionReason(m, target) : undefined,
      destructive: await measure(target, stmts.flatMap(findDestructive)),
    });
  }
  const dataLoss = planned.flatMap((p) => p.destructive).filter((d) => d.rows === undefined || d.rows > 0);
  const to = direction === "up" ? (chosen.at(-1)?.version ?? report.current) : (o.to ?? previousVersion(report));
  return { target: target.uri, current: report.current, to, migrations: planned, dataLoss };
}

function pendingUpTo(migrations: readonly Migration[], report: ReturnType<typeof statusOf>, to: number | undefined): Migration[] {
  if (to !== undefined && !migrations.some((m) => m.version === to)) throw new HoldfastError("USAGE", `--to ${to}: no migration has that version`);
  const applied = new Set(report.migrations.filter((m) => m.state === "applied" || m.state === "drifted").map((m) => m.version));
  const pending = migrations.filter((m) => !applied.has(m.version) && (to === undefined || m.version <= to));
  const late = pending.find((m) => report.current !== null && m.version < report.current && !report.migrations.some((s) => s.version === m.version && s.state === "partial"));
  if (late) throw new HoldfastError("CONFIG_INVALID", `migration ${late.version}_${late.name} is older than the applied version ${report.current}: it would run out of order`, { hint: "give it a version after the applied ones" });
  return pending;
}

function previousVersion(report: ReturnType<typeof statusOf>): number | null {
  const applied = report.migrations.filter((m) => m.state !== "pending").map((m) => m.version);
  return applied.length > 1 ? applied[applied.length - 2]! : applied.length === 1 ? 0 : null;
}

function revertDownTo(migrations: readonly Migration[], report: ReturnType<typeof statusOf>, to: number | undefined): Migration[] {
  const goal = to ?? previousVersion(report) ?? 0;
  const rows = report.migrations.filter((m) => m.state !== "pending" && m.version > goal).reverse();
  const partial = rows.find((m) => m.state === "partial");
  if (partial) throw new HoldfastError("USAGE", `migration ${partial.version}_${partial.name} is partly applied (statement ${partial.statementsDone} of ${partial.statementsTotal})`, { hint: "run migrate up to complete it first" });
  return rows.map((r) => {
    const m = migrations.find((x) => x.version === r.version)!;
    if (m.down === undefined) throw new HoldfastError("USAGE", `migration ${m.version}_${m.name} has no down migration: cannot go back to ${goal}`, { hint: `add ${String(m.version).padStart(4, "0")}_${m.name}.down.sql or a -- migrate:down section` });
    return m;
  });
}

function refuseDataLoss(plan: Plan, o: MigrateOptions): void {
  if (o.allowDataLoss || plan.dataLoss.length === 0) return;
  const d = plan.dataLoss[0]!;
  const what = `${d.kind} ${d.table}${d.column ? `.${d.column}` : ""}`;
  const size = d.rows === undefined ? "an unmeasured amount of data" : `${d.rows} rows${d.bytes !== undefined ? ` (${d.bytes} bytes)` : ""}`;
  throw new HoldfastError("USAGE", `the migrations would discard data: ${what} discards ${size}${plan.dataLoss.length > 1 ? `, and ${plan.dataLoss.length - 1} more change(s)` : ""}`, { hint: "review `holdfast migrate plan`, take a backup, then run again with --allow-data-loss" });
}

/** `-- holdfast:requires V`: V must have been applied before this run, not in the same jump. */
function refuseSkippedStops(plan: Plan, migrations: readonly Migration[]): void {
  const pending = new Set(plan.migrations.map((p) => p.version));
  for (const step of plan.migrations) {
    const stop = migrations.find((m) => m.version === step.version)!.requires.find((v) => pending.has(v));
    if (stop !== undefined) {
      throw new HoldfastError("USAGE", `migration ${step.version}_${step.name} requires version ${stop} to be applied on its own first (a required stop); nothing was changed`, { hint: `run migrate up --to ${stop}, deploy what goes with it, then migrate up again` });
    }
  }
}

function applyOptions(o: MigrateOptions): ApplyOptions {
  return { timeouts: { ...DEFAULT_TIMEOUTS, ...o.timeouts }, lockRetries: o.lockRetries ?? 3, retryBackoffMs: o.retryBackoffMs ?? 1000, backupId: o.backupId, signal: o.signal };
}

/**
 * Apply pending migrations in order, each in its own transaction (or statement by statement with a
 * ledger), each under the migrator lock. Concurrent migrators take turns: each transaction re-reads
 * the history under the lock, so every migration is applied once.
 */
export async function migrateUp(target: MigrationTarget, migrations: readonly Migration[], o: MigrateOptions = {}): Promise<UpResult> {
  const plan = await migratePlan(target, migrations, { to: o.to });
  refuseDataLoss(plan, o);
  refuseSkippedStops(plan, migrations);
  const options = applyOptions(o);
  const applied: Applied[] = [];
  for (const step of plan.migrations) {
    o.signal?.throwIfAborted();
    const done = await applyMigration(target, migrations.find((m) => m.version === step.version)!, options);
    if (done) applied.push(done);
  }
  const after = statusOf(target, migrations, await currentHistory(target));
  return { target: target.uri, from: plan.current, to: plan.to, applied, current: after.current };
}

/** Revert applied migrations down to `to` (default: one step), newest first, each in its own transaction. */
export async function migrateDown(target: MigrationTarget, migrations: readonly Migration[], o: MigrateOptions = {}): Promise<DownResult> {
  const plan = await migratePlan(target, migrations, { to: o.to, direction: "down" });
  refuseDataLoss(plan, o);
  const { timeouts } = applyOptions(o);
  const reverted: DownResult["reverted"] = [];
  for (const step of plan.migrations) {
    const m = migrations.find((x) => x.version === step.version)!;
    const started = Date.now();
    const stepByStep = splitStatements(m.down!).some((s) => needsNoTransaction(s, target.engine, target.versionNum) !== undefined);
    const body = async (s: Parameters<Parameters<MigrationTarget["transaction"]>[0]>[0]): Promise<boolean> => {
      if (!(await readHistory(s, target)).some((r) => r.version === m.version)) return false;
      try {
        if (stepByStep) for (const stmt of splitStatements(m.down!)) await s.exec(stmt.text);
        else await s.exec(m.down!);
      } catch (err) {
        throw new HoldfastError("MIGRATION_FAILED", `down migration ${m.version}_${m.name} failed: ${(err as Error).message.split("\n")[0]}`, { cause: err });
      }
      await deleteHistory(s, target, m.version);
      return true;
    };
    const done = stepByStep ? await target.autocommit(body, timeouts) : await target.transaction(body, timeouts);
    if (done) reverted.push({ version: m.version, name: m.name, executionMs: Date.now() - started });
  }
  const after = statusOf(target, migrations, await currentHistory(target));
  return { target: target.uri, from: plan.current, to: plan.to, reverted, current: after.current };
}

export interface RepairResult {
  target: string;
  repaired: { version: number; name: string; oldChecksum: string; newChecksum: string }[];
}

/** Accept the files' current text for drifted migrations: record the new checksum and why (kept in the row's repairs). */
export async function migrateRepair(target: MigrationTarget, migrations: readonly Migration[], o: { reason: string } & Pick<MigrateOptions, "timeouts">): Promise<RepairResult> {
  if (!o.reason.trim()) throw new HoldfastError("USAGE", "migrate repair needs --reason \"why the applied migration changed\"");
  const timeouts = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
  const repaired = await target.transaction(async (s) => {
    const history = await readHistory(s, target);
    const drift = statusOf(target, migrations, history).drift;
    for (const d of drift) {
      const m = migrations.find((x) => x.version === d.version)!;
      const at = new Date().toISOString();
      await recordRepair(s, target, history.find((r) => r.version === d.version)!, { at, by: appliedBy(target), reason: o.reason, oldChecksum: d.appliedChecksum, newChecksum: checksumOf(m.up) }, m.up, CHECKSUM_ALGORITHM);
    }
    return drift.map((d) => ({ version: d.version, name: d.name, oldChecksum: d.appliedChecksum, newChecksum: d.fileChecksum }));
  }, timeouts).catch(async (err: unknown) => {
    if ((await currentHistory(target)).length === 0) return [];
    throw err;
  });
  return { target: target.uri, repaired };
}
