import { redact } from "../errors.js";
import type { Migration } from "./files.js";
import { ensureHistory } from "./history.js";
import { DEFAULT_TIMEOUTS, migrateDown, migratePlan, migrateUp, type MigrateOptions } from "./migrator.js";
import { openMigrationTarget } from "./open.js";
import { currentHistory, statusOf } from "./status.js";
import type { MigrationTarget } from "./target.js";
import { checkRequiredStops } from "./upgrade-stops.js";
import type { RunnerFactory } from "./upgrade.js";
import type { UpgradeTarget } from "./upgrade-target.js";

export interface OwnMigrationOptions {
  /** The folder the migrations were loaded from (for the report). */
  dir: string;
  /** Stop at this version (default: the last). */
  to?: number;
  /** History table (PostgreSQL: schema.table); default holdfast_schema_history. */
  historyTable?: string;
  allowDataLoss?: boolean;
}

/**
 * Holdfast's own migrator behind `upgrade` (`--migrations <dir>`): what it must know before
 * anything changes, the runner itself, and the way back by down migrations.
 */
export interface OwnMigrations {
  /** The runner: migrateUp with the run's pre-upgrade backup id recorded in each history row. */
  runner: RunnerFactory;
  /**
   * Before the backup: create the history table (so the backup and the recorded state hold it),
   * refuse drift and any jump over a `-- holdfast:requires` stop (UPGRADE_REFUSED). Returns the
   * version applied now (undefined: none).
   */
  prepare(target: UpgradeTarget): Promise<string | undefined>;
  /** The highest version applied now. */
  version(target: UpgradeTarget): Promise<string | undefined>;
  /**
   * Revert by down migrations to `to` (undefined: none applied). Changes nothing and throws when a
   * step to revert has no down migration or is partly applied; throws when a down migration fails.
   */
  down(target: UpgradeTarget, to: string | undefined): Promise<string>;
  /** The steps this run would apply, in order, and whether each has a down migration (nothing changes). */
  pending(target: UpgradeTarget): Promise<{ version: string; name: string; reversible: boolean }[]>;
  /** Apply the chain up to and including `to` (the run's data-loss permission holds). */
  up(target: UpgradeTarget, to: string): Promise<string>;
}

export function ownMigrations(migrations: readonly Migration[], o: OwnMigrationOptions): OwnMigrations {
  const open = async <T>(target: UpgradeTarget, fn: (mt: MigrationTarget) => Promise<T>): Promise<T> => {
    const mt = await openMigrationTarget(target.sourceText, { historyTable: o.historyTable });
    try {
      return await fn(mt);
    } finally {
      await mt.close();
    }
  };
  const current = async (mt: MigrationTarget) => statusOf(mt, migrations, await currentHistory(mt)).current;
  const shown = (v: number | null) => (v === null ? undefined : String(v));
  return {
    runner: (target, _env, run) => ({
      describe: () => `holdfast: ${o.dir}${o.to !== undefined ? ` (to ${o.to})` : ""}`,
      run: (signal) =>
        open(target, async (mt) => {
          const options: MigrateOptions = { to: o.to, allowDataLoss: o.allowDataLoss, backupId: run.backupId, signal };
          try {
            const up = await migrateUp(mt, migrations, options);
            const lines = up.applied.map((a) => `applied ${a.version}_${a.name} (${a.executionMs} ms)`);
            return { ok: true, output: lines.join("\n"), detail: `${up.applied.length} migration(s) applied, now at ${up.current ?? "none"}` };
          } catch (err) {
            const message = redact((err as Error).message);
            return { ok: false, output: message, detail: signal.aborted ? "interrupted" : message };
          }
        }),
    }),
    prepare: (target) =>
      open(target, async (mt) => {
        await mt.transaction((s) => ensureHistory(s, mt), DEFAULT_TIMEOUTS);
        const plan = await migratePlan(mt, migrations, { to: o.to });
        const stops = plan.migrations.flatMap((p) => migrations.find((m) => m.version === p.version)!.requires).map(String);
        // A fresh database is at 0 here: migrateUp refuses a jump over a stop even from nothing.
        checkRequiredStops(String(plan.current ?? 0), stops, plan.to === null ? undefined : String(plan.to));
        return shown(plan.current);
      }),
    version: (target) => open(target, async (mt) => shown(await current(mt))),
    down: (target, to) =>
      open(target, async (mt) => {
        // It discards only what this run added; the proof that follows compares with the state before.
        const result = await migrateDown(mt, migrations, { to: to === undefined ? 0 : Number(to), allowDataLoss: true });
        return `${result.reverted.map((r) => `${r.version}_${r.name}`).join(", ") || "nothing"} reverted, now at ${result.current ?? "none"}`;
      }),
    pending: (target) =>
      open(target, async (mt) => {
        const plan = await migratePlan(mt, migrations, { to: o.to });
        return plan.migrations.map((p) => ({ version: String(p.version), name: p.name, reversible: migrations.find((m) => m.version === p.version)!.down !== undefined }));
      }),
    up: (target, to) =>
      open(target, async (mt) => {
        const result = await migrateUp(mt, migrations, { to: Number(to), allowDataLoss: o.allowDataLoss });
        return `${result.applied.map((a) => `${a.version}_${a.name}`).join(", ") || "nothing"} applied, now at ${result.current ?? "none"}`;
      }),
  };
}
