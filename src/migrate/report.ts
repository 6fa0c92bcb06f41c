import type { UpgradeRestorePoint } from "./restore-point.js";

/** The upgrade report (printed as text by the CLI, or as this JSON with --json). */
export interface UpgradeReport {
  runId: string;
  database: string;
  runner: string;
  /** True when the migrations ran and every check passed. */
  ok: boolean;
  /** upgraded · rolled-back (and proven equal) · failed (not rolled back, or the rollback did not prove equal) */
  finalState: "upgraded" | "rolled-back" | "failed";
  /** The pre-upgrade backup, or with a restore point the base backup it is reached from. */
  backupId?: string;
  /** --rollback-point restore-point: the restore point and the command that goes back to it. */
  restorePoint?: UpgradeRestorePoint;
  versionBefore?: string;
  versionAfter?: string;
  steps: ReportStep[];
  checks: CheckOutcome[];
  /** The runner's output (last 64 KB). */
  runnerOutput?: string;
  /** The first thing that failed. */
  failure?: { step: string; message: string };
  rollback: RollbackOutcome;
  durationMs: number;
}

export interface ReportStep {
  name: string;
  ok: boolean;
  startedAt: string;
  durationMs: number;
  detail?: string;
}

export interface CheckOutcome {
  kind: "assertion" | "unchanged-rows" | "foreign-keys" | "health";
  name: string;
  ok: boolean;
  detail: string;
}

export interface RollbackOutcome {
  /**
   * restore: restore the pre-upgrade backup in place on failure; down: revert by the down
   * migrations (restore when that is not possible); none: leave the database as the failure left it.
   */
  mode: "restore" | "down" | "none";
  taken: boolean;
  /** What put the database back (mode down falls back to restore); restore-point: a point-in-time restore of the cluster (--pgdata). */
  by?: "restore" | "down" | "restore-point";
  /** mode down: the down migrations reverted (by: down); restore-point: what was restored to which point. */
  detail?: string;
  /** mode down: why the down migrations could not put it back (then by: restore). */
  downError?: string;
  /** The restore's own safety backup of the failed state (PostgreSQL), or its safety copy (SQLite). */
  safetyBackupId?: string;
  safetyCopy?: string;
  /** Schema dump and table checksums equal to the state before the upgrade. */
  proven?: boolean;
  problems?: string[];
  error?: string;
}

/** Timed steps, recorded in order whether they pass or throw. */
export class Steps {
  readonly list: ReportStep[] = [];

  async run<T>(name: string, fn: () => Promise<T>, detail?: (value: T) => string | undefined): Promise<T> {
    const started = Date.now();
    const step: ReportStep = { name, ok: false, startedAt: new Date(started).toISOString(), durationMs: 0 };
    this.list.push(step);
    try {
      const value = await fn();
      step.ok = true;
      step.detail = detail?.(value);
      return value;
    } catch (err) {
      step.detail = (err as Error).message;
      throw err;
    } finally {
      step.durationMs = Date.now() - started;
    }
  }

  /** Mark the last step failed with a reason (a runner that exited non-zero does not throw). */
  fail(detail: string): void {
    const last = this.list.at(-1);
    if (last) {
      last.ok = false;
      last.detail = detail;
    }
  }
}
