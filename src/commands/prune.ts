import type { Settings } from "../config/load.js";
import { parseDuration } from "../config/duration.js";
import { HoldfastError } from "../errors.js";
import { timeOfBackupId } from "../repository/backup-id.js";
import { LOCKS_PREFIX, backupPrefix } from "../repository/layout.js";
import { acquireLock } from "../repository/lock.js";
import { readAllText } from "../repository/read-text.js";
import type { Repository } from "../repository/repository.js";
import { DEFAULT_POLICY, planRetention, type RetentionPlan, type RetentionPolicy } from "../repository/retention.js";
import { readVerifications } from "../repository/verification.js";
import { oldestNeededSegment, removeWalBefore, type WalCleanup, type WalCleanupResult } from "../repository/wal-retention.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";

export interface PruneRequest {
  settings: Settings;
  policy: RetentionPolicy;
  /** Calendar buckets (days, weeks, …) are cut in this zone. */
  timeZone: string;
  /** Only these sources (manifest.source.uri); every source when omitted. */
  sources?: string[];
  dryRun: boolean;
  /** The clock for keep-within and incomplete-backup ages (tests pin it). */
  now?: Date;
  /** Interrupted backups are removed once this old (default 1 h) and no backup lock could be theirs. */
  incompleteMinAgeMs?: number;
  /** Override the WAL clean-up step (default: remove archived WAL older than any kept base backup). */
  walCleanup?: WalCleanup;
}

export interface IncompleteDecision {
  id: string;
  remove: boolean;
  reason: string;
}

export interface PruneResult {
  repository: string;
  dryRun: boolean;
  plan: RetentionPlan;
  incomplete: IncompleteDecision[];
  wal?: WalCleanupResult;
  /** Backup ids removed (empty on a dry run). */
  removed: string[];
}

const HOUR = 3_600_000;

/** Plan, then execute: decide from the catalog what retention keeps, print-able as data, then delete. */
export async function prune(req: PruneRequest, ctx: CommandContext): Promise<PruneResult> {
  const { repo } = await openRepository(req.settings, "no");
  const now = req.now ?? new Date();
  const lock = req.dryRun ? undefined : await acquireLock(repo.backend, "prune", "prune", { waitMs: req.settings.lockWaitMs, signal: ctx.signal });
  try {
    const { backups, incomplete } = await repo.catalog();
    const inScope = backups.filter((m) => !req.sources || req.sources.includes(m.source.uri));
    const verifications = await readVerifications(repo.backend, inScope.map((m) => m.id));
    const plan = planRetention(
      inScope.map((m) => ({ id: m.id, source: m.source.uri, time: new Date(m.startedAt), verified: verifications.get(m.id)?.ok === true })),
      req.policy,
      now,
      req.timeZone,
    );
    const incompleteDecisions = await judgeIncomplete(repo, incomplete, now, req.incompleteMinAgeMs ?? HOUR);
    const removing = new Set(plan.remove);
    const oldest = oldestNeededSegment(backups.filter((m) => !removing.has(m.id)));
    const removed: string[] = [];
    if (!req.dryRun) {
      for (const id of plan.remove) {
        await repo.deleteBackup(id);
        removed.push(id);
        ctx.log.info({ id }, "backup removed by retention");
      }
      for (const d of incompleteDecisions.filter((d) => d.remove)) {
        await repo.deleteBackup(d.id); // no manifest to remove first; its files go the same way
        ctx.log.info({ id: d.id }, "incomplete backup removed");
      }
    }
    const wal = oldest ? await (req.walCleanup ?? removeWalBefore)(repo.backend, oldest, { dryRun: req.dryRun, signal: ctx.signal }) : undefined;
    ctx.log.info({ kept: plan.keep.length, removed: plan.remove.length, dryRun: req.dryRun, walRemoved: wal?.removed.length }, "prune finished");
    return { repository: repo.backend.location, dryRun: req.dryRun, plan, incomplete: incompleteDecisions, wal, removed };
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

async function judgeIncomplete(repo: Repository, ids: string[], now: Date, minAgeMs: number): Promise<IncompleteDecision[]> {
  const lockTimes = await heldBackupLockTimes(repo);
  const out: IncompleteDecision[] = [];
  for (const id of ids) {
    let newest = timeOfBackupId(id).getTime();
    for await (const obj of repo.backend.list(backupPrefix(id))) newest = Math.max(newest, obj.modifiedAt.getTime());
    const age = now.getTime() - newest;
    // A backup takes its lock before it picks its id, so a lock taken before the id's second may be its writer.
    const idTime = timeOfBackupId(id).getTime();
    if (lockTimes.some((t) => t <= idTime + 1000)) out.push({ id, remove: false, reason: "a backup that may be writing it holds a lock" });
    else if (age < minAgeMs) out.push({ id, remove: false, reason: `last written ${Math.round(age / 60_000)} min ago (removed after ${Math.round(minAgeMs / 60_000)} min)` });
    else out.push({ id, remove: true, reason: "interrupted: data without a manifest" });
  }
  return out;
}

async function heldBackupLockTimes(repo: Repository): Promise<number[]> {
  const times: number[] = [];
  for await (const obj of repo.backend.list(LOCKS_PREFIX)) {
    try {
      const body = JSON.parse(await readAllText(await repo.backend.get(obj.key))) as { startedAt?: string; purpose?: string };
      if (body.purpose?.startsWith("prune")) continue;
      times.push(body.startedAt ? Date.parse(body.startedAt) : 0);
    } catch {
      times.push(0); // unreadable or vanished: assume it could be a writer
    }
  }
  return times;
}

/** holdfast.yaml `retention:` keys (global, then per database) over the defaults. */
export function policyFromConfig(...sections: (NonNullable<Settings["ops"]>["retention"] | undefined)[]): RetentionPolicy {
  const policy = { ...DEFAULT_POLICY };
  for (const s of sections) {
    if (!s) continue;
    if (s.keep_last !== undefined) policy.keepLast = s.keep_last;
    if (s.keep_hourly !== undefined) policy.keepHourly = s.keep_hourly;
    if (s.keep_daily !== undefined) policy.keepDaily = s.keep_daily;
    if (s.keep_weekly !== undefined) policy.keepWeekly = s.keep_weekly;
    if (s.keep_monthly !== undefined) policy.keepMonthly = s.keep_monthly;
    if (s.keep_yearly !== undefined) policy.keepYearly = s.keep_yearly;
    if (s.keep_within !== undefined) policy.keepWithinMs = parseDuration(s.keep_within);
    if (s.min_verified !== undefined) policy.minVerified = s.min_verified;
  }
  return policy;
}

/** Parse a `HOLDFAST_NOW`-style instant (ISO 8601). */
export function parseInstant(text: string, where: string): Date {
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new HoldfastError("USAGE", `${where} is not an ISO 8601 time: "${text}"`);
  return new Date(t);
}
