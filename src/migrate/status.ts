import { HoldfastError } from "../errors.js";
import { findDrift, type Drift } from "./drift.js";
import type { Migration } from "./files.js";
import { readHistory, type HistoryRow } from "./history.js";
import type { MigrationTarget } from "./target.js";

export type MigrationState = "applied" | "pending" | "partial" | "drifted" | "missing-file";

export interface MigrationStatus {
  version: number;
  name: string;
  state: MigrationState;
  appliedAt?: string;
  appliedBy?: string;
  executionMs?: number;
  noTransaction?: boolean;
  /** partial: statements applied of the total (a no-transaction migration that stopped). */
  statementsDone?: number;
  statementsTotal?: number;
  repairs?: number;
}

export interface StatusReport {
  target: string;
  historyTable: string;
  /** Highest fully applied version (null: none). */
  current: number | null;
  /** Highest version in the folder (null: empty folder). */
  latest: number | null;
  pending: number;
  migrations: MigrationStatus[];
  drift: Drift[];
}

/** The history table's rows, or none when it does not exist yet (nothing applied). */
export async function currentHistory(target: MigrationTarget): Promise<HistoryRow[]> {
  return target.read(async (s) => {
    const exists = target.engine === "postgres"
      ? (await s.query<{ r: string | null }>("SELECT to_regclass(?) AS r", [target.historyTable]))[0]?.r
      : (await s.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [target.historyTable.slice(1, -1)]))[0];
    return exists ? readHistory(s, target) : [];
  });
}

/** Every migration of the folder and of the history, with its state. Reads only; takes no lock. */
export async function migrateStatus(target: MigrationTarget, migrations: readonly Migration[]): Promise<StatusReport> {
  return statusOf(target, migrations, await currentHistory(target));
}

export function statusOf(target: MigrationTarget, migrations: readonly Migration[], history: readonly HistoryRow[]): StatusReport {
  const drift = findDrift(migrations, history);
  const rows = new Map(history.map((r) => [r.version, r]));
  const versions = [...new Set([...migrations.map((m) => m.version), ...rows.keys()])].sort((a, b) => a - b);
  const list: MigrationStatus[] = versions.map((version) => {
    const m = migrations.find((x) => x.version === version);
    const row = rows.get(version);
    if (!row) return { version, name: m!.name, state: "pending" };
    const state: MigrationState = !m ? "missing-file" : !row.finishedAt ? "partial" : drift.some((d) => d.version === version) ? "drifted" : "applied";
    return {
      version,
      name: row.name,
      state,
      appliedAt: row.finishedAt,
      appliedBy: row.appliedBy,
      executionMs: row.executionMs,
      noTransaction: row.noTransaction,
      ...(state === "partial" ? { statementsDone: row.statementsDone, statementsTotal: row.statementsTotal } : {}),
      ...(row.repairs.length ? { repairs: row.repairs.length } : {}),
    };
  });
  const finished = history.filter((r) => r.finishedAt).map((r) => r.version);
  return {
    target: target.uri,
    historyTable: target.historyTable.replace(/"/g, ""),
    current: finished.length ? Math.max(...finished) : null,
    latest: migrations.length ? migrations[migrations.length - 1]!.version : null,
    pending: list.filter((m) => m.state === "pending" || m.state === "partial").length,
    migrations: list,
    drift,
  };
}

/** Refuse to change anything while history and folder disagree: drift, or an applied file gone. */
export function assertConsistent(report: StatusReport): void {
  const d = report.drift[0];
  if (d) {
    throw new HoldfastError("VERIFY_FAILED", `migration ${d.version}_${d.name} changed after it was applied (${d.file}: checksum ${d.fileChecksum.slice(0, 12)}, applied ${d.appliedChecksum.slice(0, 12)})`, {
      hint: `restore the file as it was applied, or record the change with: holdfast migrate repair --reason "…"${report.drift.length > 1 ? ` (${report.drift.length} migrations drifted)` : ""}\n--- applied\n+++ ${d.file}\n${d.diff}`,
    });
  }
  const missing = report.migrations.find((m) => m.state === "missing-file");
  if (missing) {
    throw new HoldfastError("CONFIG_INVALID", `migration ${missing.version}_${missing.name} is applied but has no file in the migrations folder`, { hint: "put its file back (history and folder must agree)" });
  }
}
