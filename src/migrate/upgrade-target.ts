import type { Settings } from "../config/load.js";
import { engineForTarget } from "../engines/registry.js";
import { HoldfastError } from "../errors.js";
import type { TableFacts } from "../repository/manifest.js";
import type { Assertion } from "./checks-sql.js";

/**
 * What an upgrade needs of the database it upgrades, whatever its kind: its state (to prove a
 * rollback), its foreign keys, the user's assertions, its migration version and the upgrade log.
 * One implementation per kind: upgrade-target-sqlite.ts, upgrade-target-postgres.ts.
 */
export interface UpgradeTarget {
  readonly kind: "sqlite" | "postgres";
  /** The source string as manifests record it (engine.describe: no password). */
  readonly source: string;
  /** The text to give `backup()`/`restore()` (the user's, password included when given). */
  readonly sourceText: string;
  /** Environment for an external runner: DATABASE_URL, HOLDFAST_DATABASE (+ PG* for psql). */
  runnerEnv(tempDir: string): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>;
  /** Schema dump and per-table row counts, content checksums and definitions. */
  state(signal?: AbortSignal): Promise<DatabaseState>;
  /** Rows whose foreign key has no parent (problems) and constraints not validated (notes). */
  foreignKeys(): Promise<{ problems: string[]; notes: string[] }>;
  /** Run each assertion read-only; the first column of its first row must be truthy (see checks-sql.ts). */
  assert(assertions: Assertion[]): Promise<{ assertion: Assertion; ok: boolean; detail: string }[]>;
  /** The version the application's migrations recorded, if one is found (or the user's query). */
  version(query?: string): Promise<string | undefined>;
  readonly log: UpgradeLog;
}

export interface DatabaseState {
  /** Normalised schema dump (pg_dump --schema-only; sqlite_master and user_version). */
  schema: string;
  /** Every table with rows and a content checksum. */
  tables: TableFacts[];
  /** Each table's column definitions, to tell which tables a migration changed. */
  definitions: Record<string, string>;
}

export type UpgradeState = "running" | "succeeded" | "rolled-back" | "failed" | "abandoned";

/** One row of the holdfast_upgrades table. */
export interface UpgradeRecord {
  runId: string;
  state: UpgradeState;
  backupId?: string;
  runner: string;
  startedAt: string;
  finishedAt?: string;
  pid: number;
  host: string;
  detail?: string;
}

/** The holdfast_upgrades table in the database itself (see docs/upgrades.md). */
export interface UpgradeLog {
  /** Create the table when missing (before the pre-upgrade backup, so the backup holds it). */
  ensure(): Promise<void>;
  running(): Promise<UpgradeRecord[]>;
  /** Insert `record` as running unless another run is; returns the run that is, if any. */
  claim(record: UpgradeRecord): Promise<UpgradeRecord | undefined>;
  /** Insert or update a run's row. */
  write(record: UpgradeRecord): Promise<void>;
}

export const UPGRADE_LOG_TABLE = "holdfast_upgrades";

/** The upgrade target a database argument names: a holdfast.yaml name, a URL or a SQLite path. */
export async function openUpgradeTarget(text: string, settings: Pick<Settings, "databases" | "tmpDir">): Promise<UpgradeTarget> {
  const sourceText = settings.databases[text]?.source ?? text;
  const { engine, ref } = engineForTarget(sourceText);
  if (engine.name === "sqlite") {
    const { sqliteTarget } = await import("./upgrade-target-sqlite.js");
    return sqliteTarget((ref as { path: string }).path);
  }
  if (engine.name === "postgres") {
    const { postgresTarget } = await import("./upgrade-target-postgres.js");
    return postgresTarget(sourceText, settings.tmpDir);
  }
  throw new HoldfastError("USAGE", `upgrade works on SQLite and PostgreSQL databases, not on ${engine.name} sources`);
}

export function rowToRecord(r: Record<string, unknown>): UpgradeRecord {
  const text = (v: unknown) => (v === null || v === undefined ? undefined : v instanceof Date ? v.toISOString() : String(v));
  return {
    runId: String(r.run_id),
    state: String(r.state) as UpgradeState,
    backupId: text(r.backup_id),
    runner: String(r.runner),
    startedAt: text(r.started_at)!,
    finishedAt: text(r.finished_at),
    pid: Number(r.pid),
    host: String(r.host),
    detail: text(r.detail),
  };
}

export const LOG_COLUMNS = "run_id, state, backup_id, runner, started_at, finished_at, pid, host, detail";

export function recordValues(r: UpgradeRecord): unknown[] {
  return [r.runId, r.state, r.backupId ?? null, r.runner, r.startedAt, r.finishedAt ?? null, r.pid, r.host, r.detail ?? null];
}
