import { Cron } from "croner";
import type { Settings } from "../config/load.js";
import { parseDuration } from "../config/duration.js";
import { HoldfastError } from "../errors.js";
import { engineForSource } from "../engines/registry.js";
import { kindOf, totalContentBytes, totalStoredBytes, type Manifest } from "../repository/manifest.js";
import { newest as newestOf } from "../repository/selection.js";
import { readVerifications, type VerificationRecord } from "../repository/verification.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";
import { recoveryWindows, type RecoveryWindow } from "./recovery-window.js";

export const JOB_KINDS = ["backup", "verify", "deep_verify", "prune", "copy"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const DEFAULT_STALE_AFTER = "25h";

export interface DatabaseStatus {
  name: string;
  /** The source as recorded in manifests (credentials removed). */
  source: string;
  backups: number;
  /** Stored bytes of all this database's backups. */
  storedBytes: number;
  newest?: { id: string; startedAt: string; finishedAt: string; ageMs: number; storedBytes: number; contentBytes: number };
  /** The most recent verification of any of its backups. */
  lastVerify?: VerificationRecord;
  staleAfterMs: number;
  stale: boolean;
  timeZone?: string;
  nextRuns: Partial<Record<JobKind, string>>;
  /** Point-in-time recovery window, for sources with physical base backups. */
  recoveryWindow?: RecoveryWindow;
}

export interface StatusReport {
  repository: string;
  now: string;
  databases: DatabaseStatus[];
}

/** One look at every configured database: newest backup, its age and size, last verify, next runs. */
export async function status(settings: Settings, names: string[], ctx: CommandContext, now = new Date()): Promise<StatusReport> {
  const configured = Object.keys(settings.databases);
  if (configured.length === 0) {
    throw new HoldfastError("USAGE", `no databases configured${settings.configPath ? ` in ${settings.configPath}` : ""}`, { hint: "add a databases: section to holdfast.yaml" });
  }
  for (const n of names) {
    if (!configured.includes(n)) throw new HoldfastError("USAGE", `unknown database "${n}" (configured: ${configured.join(", ")})`);
  }
  const { repo } = await openRepository(settings, "no");
  const { backups } = await repo.catalog();
  const verifications = await readVerifications(repo.backend, backups.map((m) => m.id));
  const windows = await recoveryWindows(repo.backend, backups);
  const databases = (names.length ? names : configured).map((name) => {
    const s = databaseStatus(name, settings, backups, verifications, now);
    return { ...s, recoveryWindow: windows.get(s.source) };
  });
  ctx.log.debug({ databases: databases.length }, "status collected");
  return { repository: repo.backend.location, now: now.toISOString(), databases };
}

/** Pure: the status of one configured database from an already-read catalog. */
export function databaseStatus(name: string, settings: Settings, catalog: readonly Manifest[], verifications: ReadonlyMap<string, VerificationRecord>, now: Date): DatabaseStatus {
  const db = settings.databases[name]!;
  const source = sourceUriOf(db.source);
  const mine = catalog.filter((m) => m.source.uri === source);
  // Freshness counts full backups only: a safety or partial backup must not make a database look backed up.
  const newest = newestOf(mine.filter((m) => kindOf(m) === "full"));
  const staleAfterMs = parseDuration(db.stale_after ?? DEFAULT_STALE_AFTER);
  const timeZone = db.timezone ?? settings.ops?.timezone;
  const lastVerify = mine
    .map((m) => verifications.get(m.id))
    .filter((v): v is VerificationRecord => v !== undefined)
    .sort((a, b) => (a.verifiedAt < b.verifiedAt ? 1 : -1))[0];
  const nextRuns: Partial<Record<JobKind, string>> = {};
  for (const kind of JOB_KINDS) {
    const pattern = db.schedule?.[kind];
    if (!pattern) continue;
    const next = new Cron(pattern, { paused: true, timezone: timeZone }).nextRun(now);
    if (next) nextRuns[kind] = next.toISOString();
  }
  const ageMs = newest ? now.getTime() - Date.parse(newest.finishedAt) : undefined;
  return {
    name,
    source,
    backups: mine.length,
    storedBytes: mine.reduce((s, m) => s + totalStoredBytes(m), 0),
    newest: newest && {
      id: newest.id,
      startedAt: newest.startedAt,
      finishedAt: newest.finishedAt,
      ageMs: ageMs!,
      storedBytes: totalStoredBytes(newest),
      contentBytes: totalContentBytes(newest),
    },
    lastVerify,
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
