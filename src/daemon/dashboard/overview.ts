import { staleness } from "../health.js";
import type { DatabaseStatus, JobKind } from "../../commands/status.js";
import type { DrillSummary } from "../../drill/summary.js";
import { kindOf, totalStoredBytes, type Manifest } from "../../repository/manifest.js";
import type { DatabaseJobs } from "../config.js";

/** The latest run of one job of one database (this process's, or the state file's from before). */
export interface JobRun {
  kind: JobKind;
  at: string;
  ok: boolean;
  error?: string;
  note?: string;
}

export interface OffsiteCopy {
  location: string;
  /** Whether the newest backup is in this copy repository (undefined: no backup yet, or unreadable). */
  hasNewest?: boolean;
  error?: string;
}

/** One row of the dashboard. `health` colours the row: a failing job or a stale backup is "bad". */
export interface DatabaseRow {
  name: string;
  source: string;
  health: "ok" | "warn" | "bad";
  problems: string[];
  lastBackup?: { id: string; finishedAt: string; ageMs: number; storedBytes: number };
  staleAfterMs: number;
  rpoTargetMs?: number;
  rtoTargetMs?: number;
  /** Stored bytes of the newest full backups, oldest first. */
  trend: { id: string; finishedAt: string; storedBytes: number }[];
  lastVerify?: { backupId: string; verifiedAt: string; ok: boolean; deep: boolean; error?: string };
  recoveryWindow?: { from: string; to: string };
  /** now − newest WAL file archived; only for sources with a recovery window (physical backups). */
  walLagMs?: number;
  lastDrill?: DrillSummary;
  offsite: { scheduled: boolean; copies: OffsiteCopy[]; lastCopy?: JobRun };
  jobs: JobRun[];
  lastFailure?: JobRun;
  nextRuns: DatabaseStatus["nextRuns"];
}

export interface Overview {
  now: string;
  phase: string;
  repository: string;
  databases: DatabaseRow[];
}

export interface RowInputs {
  db: DatabaseJobs;
  targets: { rtoMs?: number; rpoMs?: number };
  status?: DatabaseStatus;
  jobs: JobRun[];
  catalog: readonly Manifest[];
  copies: OffsiteCopy[];
  walNewestMs?: number;
}

const TREND_POINTS = 20;

/** Pure: one database's row from the daemon's state and the repository's catalog. */
export function databaseRow(input: RowInputs, now: Date): DatabaseRow {
  const { db, status: s, jobs } = input;
  const full = input.catalog.filter((m) => m.source.uri === db.sourceUri && kindOf(m) === "full").sort((a, b) => (a.id < b.id ? -1 : 1));
  const trend = full.slice(-TREND_POINTS).map((m) => ({ id: m.id, finishedAt: m.finishedAt, storedBytes: totalStoredBytes(m) }));
  const newest = s?.newest;
  const ageMs = newest ? now.getTime() - Date.parse(newest.finishedAt) : undefined;
  const failed = jobs.filter((j) => !j.ok).sort((a, b) => (a.at < b.at ? 1 : -1));
  const problems: string[] = failed.map((j) => `${j.kind} failed at ${j.at}: ${j.error ?? "unknown error"}`);
  const stale = s ? staleness(db, s, now) : "no backup yet";
  if (stale) problems.push(stale);
  if (s?.lastVerify && !s.lastVerify.ok) problems.push(`verification of ${s.lastVerify.backupId} failed`);
  const warnings: string[] = [];
  if (input.targets.rpoMs !== undefined && ageMs !== undefined && ageMs > input.targets.rpoMs) warnings.push("newest backup is older than the RPO target");
  if (s?.lastDrill && s.lastDrill.verdict !== "PASS") warnings.push(`last drill ${s.lastDrill.verdict}`);
  if (input.copies.some((c) => c.hasNewest === false)) warnings.push("newest backup not yet offsite");
  const copyJob = jobs.find((j) => j.kind === "copy");
  return {
    name: db.name,
    source: db.sourceUri,
    health: problems.length ? "bad" : warnings.length ? "warn" : "ok",
    problems: [...problems, ...warnings],
    lastBackup: newest && { id: newest.id, finishedAt: newest.finishedAt, ageMs: ageMs!, storedBytes: newest.storedBytes },
    staleAfterMs: db.staleAfterMs,
    rpoTargetMs: input.targets.rpoMs,
    rtoTargetMs: input.targets.rtoMs,
    trend,
    lastVerify: s?.lastVerify && { backupId: s.lastVerify.backupId, verifiedAt: s.lastVerify.verifiedAt, ok: s.lastVerify.ok, deep: s.lastVerify.deep, error: s.lastVerify.error },
    recoveryWindow: s?.recoveryWindow && { from: s.recoveryWindow.from, to: s.recoveryWindow.to },
    walLagMs: s?.recoveryWindow && input.walNewestMs !== undefined ? now.getTime() - input.walNewestMs : undefined,
    lastDrill: s?.lastDrill,
    offsite: { scheduled: db.schedule.copy !== undefined, copies: input.copies, lastCopy: copyJob },
    jobs,
    lastFailure: failed[0],
    nextRuns: s?.nextRuns ?? {},
  };
}
