import { hostname, userInfo } from "node:os";
import { HOLDFAST_VERSION } from "../commands/context.js";
import type { MigrationTarget, SqlSession } from "./target.js";

/** One row of the history table: an applied (or, for no-transaction migrations, started) migration. */
export interface HistoryRow {
  version: number;
  name: string;
  checksum: string;
  checksumAlgorithm: number;
  /** The up text that was applied (normalised), so drift can be shown as a difference. */
  upSql: string;
  startedAt: string;
  /** Absent while a no-transaction migration is under way (or was interrupted). */
  finishedAt?: string;
  appliedBy: string;
  executionMs?: number;
  noTransaction: boolean;
  /** No-transaction migrations: statements applied so far, of statementsTotal. */
  statementsDone: number;
  statementsTotal: number;
  /** The backup taken before this migration (set by upgrade), if any. */
  backupId?: string;
  /** Repairs recorded by `migrate repair`, oldest first. */
  repairs: RepairRecord[];
  holdfastVersion: string;
}

export interface RepairRecord {
  at: string;
  by: string;
  reason: string;
  oldChecksum: string;
  newChecksum: string;
}

export const DEFAULT_HISTORY_TABLE = "holdfast_schema_history";

export function createHistorySql(target: Pick<MigrationTarget, "engine" | "historyTable">): string[] {
  const pg = target.engine === "postgres";
  const ts = pg ? "timestamptz" : "TEXT";
  const table = `CREATE TABLE IF NOT EXISTS ${target.historyTable} (
  version ${pg ? "bigint" : "INTEGER"} PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  checksum_algorithm integer NOT NULL,
  up_sql text NOT NULL,
  started_at ${ts} NOT NULL,
  finished_at ${ts},
  applied_by text NOT NULL,
  execution_ms integer,
  no_transaction ${pg ? "boolean" : "INTEGER"} NOT NULL,
  statements_done integer NOT NULL,
  statements_total integer NOT NULL,
  backup_id text,
  repairs text NOT NULL,
  holdfast_version text NOT NULL
)`;
  const schema = pg && target.historyTable.includes(".") ? [`CREATE SCHEMA IF NOT EXISTS ${target.historyTable.slice(0, target.historyTable.indexOf("."))}`] : [];
  return [...schema, table];
}

export async function ensureHistory(s: SqlSession, target: MigrationTarget): Promise<void> {
  for (const sql of createHistorySql(target)) await s.exec(sql);
}

export async function readHistory(s: SqlSession, target: MigrationTarget): Promise<HistoryRow[]> {
  const rows = await s.query(`SELECT * FROM ${target.historyTable} ORDER BY version`);
  return rows.map((r) => ({
    version: Number(r.version),
    name: String(r.name),
    checksum: String(r.checksum),
    checksumAlgorithm: Number(r.checksum_algorithm),
    upSql: String(r.up_sql),
    startedAt: iso(r.started_at)!,
    finishedAt: iso(r.finished_at),
    appliedBy: String(r.applied_by),
    executionMs: r.execution_ms === null || r.execution_ms === undefined ? undefined : Number(r.execution_ms),
    noTransaction: Boolean(r.no_transaction),
    statementsDone: Number(r.statements_done),
    statementsTotal: Number(r.statements_total),
    backupId: r.backup_id === null || r.backup_id === undefined ? undefined : String(r.backup_id),
    repairs: JSON.parse(String(r.repairs)) as RepairRecord[],
    holdfastVersion: String(r.holdfast_version),
  }));
}

function iso(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  return v instanceof Date ? v.toISOString() : String(v);
}

export async function insertHistory(s: SqlSession, target: MigrationTarget, row: Omit<HistoryRow, "repairs" | "holdfastVersion">): Promise<void> {
  const pg = target.engine === "postgres";
  await s.query(
    `INSERT INTO ${target.historyTable} (version, name, checksum, checksum_algorithm, up_sql, started_at, finished_at, applied_by, execution_ms, no_transaction, statements_done, statements_total, backup_id, repairs, holdfast_version)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?)`,
    [row.version, row.name, row.checksum, row.checksumAlgorithm, row.upSql, row.startedAt, row.finishedAt ?? null, row.appliedBy, row.executionMs ?? null, pg ? row.noTransaction : Number(row.noTransaction), row.statementsDone, row.statementsTotal, row.backupId ?? null, HOLDFAST_VERSION],
  );
}

export async function recordProgress(s: SqlSession, target: MigrationTarget, version: number, statementsDone: number): Promise<void> {
  await s.query(`UPDATE ${target.historyTable} SET statements_done = ? WHERE version = ?`, [statementsDone, version]);
}

export async function recordFinished(s: SqlSession, target: MigrationTarget, version: number, finishedAt: string, executionMs: number): Promise<void> {
  await s.query(`UPDATE ${target.historyTable} SET finished_at = ?, execution_ms = ? WHERE version = ?`, [finishedAt, executionMs, version]);
}

export async function deleteHistory(s: SqlSession, target: MigrationTarget, version: number): Promise<void> {
  await s.query(`DELETE FROM ${target.historyTable} WHERE version = ?`, [version]);
}

export async function recordRepair(s: SqlSession, target: MigrationTarget, row: HistoryRow, repair: RepairRecord, upSql: string, algorithm: number): Promise<void> {
  await s.query(`UPDATE ${target.historyTable} SET checksum = ?, checksum_algorithm = ?, up_sql = ?, repairs = ? WHERE version = ?`, [repair.newChecksum, algorithm, upSql, JSON.stringify([...row.repairs, repair]), row.version]);
}

/** OS user, database user and host, as recorded in applied_by. */
export function appliedBy(target: Pick<MigrationTarget, "dbUser">): string {
  let os = process.env.USER ?? "unknown";
  try {
    os = userInfo().username;
  } catch {
    // no passwd entry: keep $USER
  }
  return `${os} as ${target.dbUser} on ${hostname()}`;
}
