import pLimit from "p-limit";
import type { Settings } from "../config/load.js";
import { parseDuration } from "../config/duration.js";
import { HoldfastError } from "../errors.js";
import { acquireLock } from "../repository/lock.js";
import { IN_USE_DIR, backupsInUse } from "../repository/in-use.js";
import { INCOMPLETE_MIN_AGE_MS, describeIncomplete, judgeIncomplete } from "../repository/incomplete.js";
import { kindOf } from "../repository/manifest.js";
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
  /** Safety backups (taken before a restore replaced a database) are kept this long (default 7 days). */
  safetyKeepMs?: number;
  /** Override the WAL clean-up step (default: remove archived WAL older than any kept base backup). */
  walCleanup?: WalCleanup;
}

export interface IncompleteDecision {
  id: string;
  remove: boolean;
  reason: string;
}

/** Safety backups are not counted by the retention policy: they are kept for a time of their own. */
export interface SafetyDecision {
  id: string;
  source: string;
  remove: boolean;
  reason: string;
}

export interface PruneResult {
  repository: string;
  dryRun: boolean;
  plan: RetentionPlan;
  safety: SafetyDecision[];
  incomplete: IncompleteDecision[];
  wal?: WalCleanupResult;
  /** Backup ids removed (empty on a dry run). */
  removed: string[];
}

export const SAFETY_KEEP_MS = 7 * 86_400_000;

/** Plan, then execute: decide from the catalog what retention keeps, print-able as data, then delete. */
export async function prune(req: PruneRequest, ctx: CommandContext): Promise<PruneResult> {
  const { repo } = await openRepository(req.settings, "no");
  const now = req.now ?? new Date();
  const lock = req.dryRun ? undefined : await acquireLock(repo.backend, "prune", "prune", { waitMs: req.settings.lockWaitMs, signal: ctx.signal });
  try {
    const { backups, incomplete } = await repo.catalog({ signal: ctx.signal });
    const inUse = await backupsInUse(repo.backend);
    const inScope = backups.filter((m) => !req.sources || req.sources.includes(m.source.uri));
    const regular = inScope.filter((m) => kindOf(m) !== "safety");
    const verifications = await readVerifications(repo.backend, regular.map((m) => m.id));
    // Exports are kept by the same policy, but apart: a daily export must not take a backup's place.
    const candidates = (ms: typeof regular) => ms.map((m) => ({ id: m.id, source: m.source.uri, time: new Date(m.startedAt), verified: verifications.get(m.id)?.ok === true }));
    const planned = joinPlans(
      planRetention(candidates(regular.filter((m) => kindOf(m) !== "export")), req.policy, now, req.timeZone),
      planRetention(candidates(regular.filter((m) => kindOf(m) === "export")), req.policy, now, req.timeZone),
    );
    const plan = keepInUse(planned, inUse);
    const safetyKeepMs = req.safetyKeepMs ?? SAFETY_KEEP_MS;
    const safety: SafetyDecision[] = inScope
      .filter((m) => kindOf(m) === "safety")
      .map((m) => {
        const age = now.getTime() - Date.parse(m.startedAt);
        if (inUse.has(m.id)) return { id: m.id, source: m.source.uri, remove: false, reason: "in use by a running restore" };
        if (age < safetyKeepMs) return { id: m.id, source: m.source.uri, remove: false, reason: `safety backup, kept ${formatDays(safetyKeepMs)} (until ${new Date(Date.parse(m.startedAt) + safetyKeepMs).toISOString()})` };
        return { id: m.id, source: m.source.uri, remove: true, reason: `safety backup older than ${formatDays(safetyKeepMs)}` };
      });
    const minAge = req.incompleteMinAgeMs ?? INCOMPLETE_MIN_AGE_MS;
    const incompleteDecisions: IncompleteDecision[] = (await judgeIncomplete(repo.backend, incomplete, minAge)).map((v) => ({
      id: v.id,
      remove: v.state === "interrupted" && Date.parse(v.removableAfter!) <= now.getTime(),
      reason: describeIncomplete(v),
    }));
    const removing = new Set([...plan.remove, ...safety.filter((d) => d.remove).map((d) => d.id)]);
    const oldest = oldestNeededSegment(backups.filter((m) => !removing.has(m.id)));
    const removed: string[] = [];
    if (!req.dryRun) {
      // Each deletion is independent (manifest first, then its files): 8 at a time.
      const limit = pLimit(8);
      await Promise.all(
        [...removing].map((id) =>
          limit(async () => {
            await repo.deleteBackup(id);
            removed.push(id);
            ctx.log.info({ id }, "backup removed by retention");
          }),
        ),
      );
      for (const d of incompleteDecisions.filter((d) => d.remove)) {
        await repo.deleteBackup(d.id); // no manifest to remove first; its files go the same way
        ctx.log.info({ id: d.id }, "interrupted backup removed");
      }
    }
    const wal = oldest ? await (req.walCleanup ?? removeWalBefore)(repo.backend, oldest, { dryRun: req.dryRun, signal: ctx.signal }) : undefined;
    ctx.log.info({ kept: plan.keep.length, removed: plan.remove.length, dryRun: req.dryRun, walRemoved: wal?.removed.length }, "prune finished");
    return { repository: repo.backend.location, dryRun: req.dryRun, plan, safety, incomplete: incompleteDecisions, wal, removed };
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

/** Two plans of the same policy (backups, exports) as one; each decision says "export" when it is one. */
function joinPlans(backups: RetentionPlan, exports: RetentionPlan): RetentionPlan {
  const marked = exports.decisions.map((d) => ({ ...d, reasons: d.reasons.map((r) => `export ${r}`) }));
  return { ...backups, decisions: [...backups.decisions, ...marked], keep: [...backups.keep, ...exports.keep], remove: [...backups.remove, ...exports.remove] };
}

/** A backup a running restore (or copy) is reading stays, whatever the policy says (see in-use.ts). */
function keepInUse(plan: RetentionPlan, inUse: ReadonlySet<string>): RetentionPlan {
  if (inUse.size === 0) return plan;
  const decisions = plan.decisions.map((d) => (!d.keep && inUse.has(d.id) ? { ...d, keep: true, reasons: [`in use (${IN_USE_DIR})`] } : d));
  return { ...plan, decisions, keep: decisions.filter((d) => d.keep).map((d) => d.id), remove: decisions.filter((d) => !d.keep).map((d) => d.id) };
}

function formatDays(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000} days` : `${Math.round(ms / 3_600_000)} h`;
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
