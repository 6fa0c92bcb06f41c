import { Cron } from "croner";
import type { Settings } from "../config/load.js";
import { parseDuration } from "../config/duration.js";
import { HoldfastError } from "../errors.js";
import { engineForSource } from "../engines/registry.js";
import { kindOf, totalContentBytes, totalStoredBytes, type BackupKind, type Manifest } from "../repository/manifest.js";
import { recoveryWindows, type RecoveryWindow } from "../repository/recovery-window.js";
import type { Repository } from "../repository/repository.js";
import { newest as newestOf } from "../repository/selection.js";
import { readVerifications, type VerificationRecord } from "../repository/verification.js";
import type { CommandContext } from "./context.js";
import { openRepository, unlockIfPossible } from "./open-repository.js";
import { drillSummaries, type DrillSummary } from "../drill/summary.js";

export const JOB_KINDS = ["backup", "verify", "deep_verify", "prune", "copy", "drill", "export"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** A database's cron patterns by job kind: schedule.<kind>, drill.schedule and export.schedule. */
export function schedulesOf(db: Settings["databases"][string] | undefined): Partial<Record<JobKind, string>> {
  const out: Partial<Record<JobKind, string>> = { ...db?.schedule };
  if (db?.drill?.schedule) out.drill = db.drill.schedule;
  if (db?.export) out.export = db.export.schedule;
  return out;
}

export const DEFAULT_STALE_AFTER = "25h";

export interface DatabaseStatus {
  /** The configured name; without a databases: section, the source as recorded in manifests. */
  name: string;
  /** The source as recorded in manifests (credentials removed). */
  source: string;
  /** false for a source found in the repository but not configured (status without databases:). */
  configured: boolean;
  backups: number;
  /** Backups of each kind (full, partial, schema-only, safety). */
  kinds: Partial<Record<BackupKind, number>>;
  /** Stored bytes of all this database's backups. */
  storedBytes: number;
  /** The newest full backup. */
  newest?: { id: string; startedAt: string; finishedAt: string; ageMs: number; storedBytes: number; contentBytes: number };
  /** The newest export (kind export) and the rows it holds. */
  newestExport?: { id: string; finishedAt: string; rows: number };
  /** The most recent verification of any of its backups. */
  lastVerify?: VerificationRecord;
  /** When the most recent passing verification of any of its backups ran. */
  lastPassedVerifyAt?: string;
  staleAfterMs: number;
  stale: boolean;
  timeZone?: string;
  nextRuns: Partial<Record<JobKind, string>>;
  /** Point-in-time recovery window, for sources with physical base backups. */
  recoveryWindow?: RecoveryWindow;
  /** The newest drill of this source recorded in the repository (run by the daemon or the CLI). */
  lastDrill?: DrillSummary;
  /** When the newest passing drill finished. */
  lastPassedDrillAt?: string;
}

export interface StatusReport {
  repository: string;
  now: string;
  databases: DatabaseStatus[];
}

/**
 * One look at every configured database: newest backup, its age and size, last verify, next runs,
 * recovery window. Without a databases: section, every source found in the repository.
 */
export async function status(settings: Settings, names: string[], ctx: CommandContext, now = new Date()): Promise<StatusReport> {
  const configured = Object.keys(settings.databases);
  for (const n of names) {
    if (configured.length > 0 && !configured.includes(n)) throw new HoldfastError("USAGE", `unknown database "${n}" (configured: ${configured.join(", ")})`);
  }
  const { repo } = await openRepository(settings, "no");
  const all = await databaseStatuses(repo, settings, now);
  const databases = names.length ? all.filter((d) => names.includes(d.name)) : all;
  const missing = names.filter((n) => !databases.some((d) => d.name === n));
  if (missing.length > 0) {
    throw new HoldfastError("USAGE", `no backups of "${missing[0]}" in ${repo.backend.location} and no databases: section${settings.configPath ? ` in ${settings.configPath}` : ""}`, {
      hint: all.length ? `sources in the repository: ${all.map((d) => d.name).join(", ")}` : "the repository holds no backups yet",
    });
  }
  ctx.log.debug({ databases: databases.length }, "status collected");
  return { repository: repo.backend.location, now: now.toISOString(), databases };
}

/**
 * The status of every configured database (or, with none configured, of every source in the
 * repository) from one read of the catalog, verifications and WAL archive. The daemon's gauges
 * come from here too, so `status`, metrics and `wal verify` show one recovery window. `unlock`
 * is asked only for encrypted timeline histories (the daemon hands over the keys it opened once).
 */
export async function databaseStatuses(repo: Repository, settings: Settings, now: Date, unlock = () => unlockIfPossible(repo, settings)): Promise<DatabaseStatus[]> {
  const { backups } = await repo.catalog();
  const verifications = await readVerifications(repo.backend, backups.map((m) => m.id));
  const windows = await recoveryWindows(repo.backend, backups, unlock);
  const drills = await drillSummaries(repo.backend);
  const entries = Object.keys(settings.databases).length
    ? Object.entries(settings.databases).map(([name, db]) => ({ name, source: sourceUriOf(db.source), db }))
    : [...new Set(backups.map((m) => m.source.uri))].map((source) => ({ name: source, source, db: undefined }));
  return entries.map((e) => ({ ...sourceStatus(e, settings, backups, verifications, now), recoveryWindow: windows.get(e.source), ...drills.get(e.source) }));
}

/** Pure: the status of one source from an already-read catalog; `db` is its configuration, if any. */
export function sourceStatus(
  entry: { name: string; source: string; db?: Settings["databases"][string] },
  settings: Settings,
  catalog: readonly Manifest[],
  verifications: ReadonlyMap<string, VerificationRecord>,
  now: Date,
): DatabaseStatus {
  const { name, source, db } = entry;
  const mine = catalog.filter((m) => m.source.uri === source);
  const kinds: Partial<Record<BackupKind, number>> = {};
  for (const m of mine) kinds[kindOf(m)] = (kinds[kindOf(m)] ?? 0) + 1;
  // Freshness counts full backups only: a safety or partial backup must not make a database look backed up.
  const newest = newestOf(mine.filter((m) => kindOf(m) === "full"));
  const staleAfterMs = parseDuration(db?.stale_after ?? DEFAULT_STALE_AFTER);
  const timeZone = db?.timezone ?? settings.ops?.timezone;
  const verified = mine
    .map((m) => verifications.get(m.id))
    .filter((v): v is VerificationRecord => v !== undefined)
    .sort((a, b) => (a.verifiedAt < b.verifiedAt ? 1 : -1));
  const lastVerify = verified[0];
  const nextRuns: Partial<Record<JobKind, string>> = {};
  const schedules = schedulesOf(db);
  for (const kind of JOB_KINDS) {
    const pattern = schedules[kind];
    if (!pattern) continue;
    const next = new Cron(pattern, { paused: true, timezone: timeZone }).nextRun(now);
    if (next) nextRuns[kind] = next.toISOString();
  }
  const newestExport = newestOf(mine.filter((m) => kindOf(m) === "export"));
  const ageMs = newest ? now.getTime() - Date.parse(newest.finishedAt) : undefined;
  return {
    name,
    source,
    configured: db !== undefined,
    backups: mine.length,
    kinds,
    storedBytes: mine.reduce((s, m) => s + totalStoredBytes(m), 0),
    newest: newest && {
      id: newest.id,
      startedAt: newest.startedAt,
      finishedAt: newest.finishedAt,
      ageMs: ageMs!,
      storedBytes: totalStoredBytes(newest),
      contentBytes: totalContentBytes(newest),
    },
    newestExport: newestExport && { id: newestExport.id, finishedAt: newestExport.finishedAt, rows: (newestExport.tables ?? []).reduce((sum, t) => sum + t.rows, 0) },
    lastVerify,
    lastPassedVerifyAt: verified.find((v) => v.ok)?.verifiedAt,
    staleAfterMs,
    stale: ageMs === undefined || ageMs > staleAfterMs,
    timeZone,
    nextRuns,
  };
}

/** The source string as manifests record it, so config entries match catalog entries. */
export function sourceUriOf(source: string): string {
  const { engine, ref } = engineForSource(source);
  return engine.describe(ref);
}
