/**
 * Retention planning (pure: no I/O, no clock of its own). Given the backups of a repository, a
 * policy, "now" and a time zone, decide for every backup whether it stays and which rules keep it.
 * The rules follow restic's `forget`: within each source, backups are walked newest first; a
 * keep-daily/weekly/… rule keeps the newest backup of each of the last N calendar buckets (days,
 * ISO weeks, months, years in the configured time zone) that hold a backup.
 */

export interface RetentionPolicy {
  keepLast: number;
  keepHourly: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  keepYearly: number;
  /** Keep everything taken within this many milliseconds before now (0 = rule off). */
  keepWithinMs: number;
  /** Keep at least this many verified backups per source, whatever the other rules say. */
  minVerified: number;
}

/** Grandfather-father-son: 7 daily, 4 weekly, 12 monthly, and one verified backup. */
export const DEFAULT_POLICY: RetentionPolicy = {
  keepLast: 0,
  keepHourly: 0,
  keepDaily: 7,
  keepWeekly: 4,
  keepMonthly: 12,
  keepYearly: 0,
  keepWithinMs: 0,
  minVerified: 1,
};

export interface RetentionCandidate {
  id: string;
  /** Policies apply per source (manifest.source.uri). */
  source: string;
  /** When the backup was taken (manifest.startedAt). */
  time: Date;
  /** Its latest verification succeeded. */
  verified: boolean;
}

export interface RetentionDecision {
  id: string;
  source: string;
  time: Date;
  verified: boolean;
  keep: boolean;
  /** Which rules keep it ("daily 2026-11-22", "newest", …); empty when removed. */
  reasons: string[];
}

export interface RetentionPlan {
  policy: RetentionPolicy;
  timeZone: string;
  now: Date;
  /** Every candidate, grouped by source (sources sorted), newest first within a source. */
  decisions: RetentionDecision[];
  keep: string[];
  remove: string[];
}

type Bucketer = (parts: CalendarParts) => string;

interface CalendarParts {
  year: number;
  month: number;
  day: number;
  hour: number;
}

const BUCKET_RULES: { rule: keyof RetentionPolicy; label: string; bucket: Bucketer }[] = [
  { rule: "keepHourly", label: "hourly", bucket: (p) => `${datePart(p)}T${pad(p.hour)}` },
  { rule: "keepDaily", label: "daily", bucket: (p) => datePart(p) },
  { rule: "keepWeekly", label: "weekly", bucket: (p) => isoWeek(p) },
  { rule: "keepMonthly", label: "monthly", bucket: (p) => `${p.year}-${pad(p.month)}` },
  { rule: "keepYearly", label: "yearly", bucket: (p) => String(p.year) },
];

export function planRetention(candidates: readonly RetentionCandidate[], policy: RetentionPolicy, now: Date, timeZone = "UTC"): RetentionPlan {
  assertPolicy(policy);
  const calendar = calendarIn(timeZone);
  const bySource = new Map<string, RetentionCandidate[]>();
  for (const c of candidates) {
    const group = bySource.get(c.source);
    if (group) group.push(c);
    else bySource.set(c.source, [c]);
  }
  const decisions: RetentionDecision[] = [];
  for (const source of [...bySource.keys()].sort()) {
    const group = bySource.get(source)!.sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1));
    decisions.push(...planGroup(group, policy, now, calendar));
  }
  return {
    policy,
    timeZone,
    now,
    decisions,
    keep: decisions.filter((d) => d.keep).map((d) => d.id),
    remove: decisions.filter((d) => !d.keep).map((d) => d.id),
  };
}

/** One source's backups, newest first. */
function planGroup(group: RetentionCandidate[], policy: RetentionPolicy, now: Date, calendar: (d: Date) => CalendarParts): RetentionDecision[] {
  const decisions = group.map((c) => ({ ...c, keep: false, reasons: [] as string[] }));
  const keepFor = (d: RetentionDecision, reason: string) => {
    d.keep = true;
    d.reasons.push(reason);
  };
  if (decisions[0]) keepFor(decisions[0], "newest");
  decisions.slice(0, policy.keepLast).forEach((d, i) => keepFor(d, `last ${i + 1}/${policy.keepLast}`));
  const parts: CalendarParts[] = [];
  const partsOf = (i: number) => (parts[i] ??= calendar(decisions[i]!.time));
  for (const { rule, label, bucket } of BUCKET_RULES) {
    let left = policy[rule];
    let previous: string | undefined;
    for (const [i, d] of decisions.entries()) {
      if (left <= 0) break;
      const b = bucket(partsOf(i));
      if (b === previous) continue;
      previous = b;
      keepFor(d, `${label} ${b}`);
      left--;
    }
  }
  if (policy.keepWithinMs > 0) {
    const since = now.getTime() - policy.keepWithinMs;
    for (const d of decisions) if (d.time.getTime() >= since) keepFor(d, `within ${formatDuration(policy.keepWithinMs)}`);
  }
  let verifiedKept = decisions.filter((d) => d.keep && d.verified).length;
  for (const d of decisions) {
    if (verifiedKept >= policy.minVerified) break;
    if (d.verified && !d.keep) {
      keepFor(d, `verified (keep at least ${policy.minVerified})`);
      verifiedKept++;
    }
  }
  return decisions;
}

function assertPolicy(policy: RetentionPolicy): void {
  for (const [key, value] of Object.entries(policy)) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`retention ${key} must be a whole number ≥ 0, got ${value}`);
  }
}

/** Calendar fields of an instant as seen on a wall clock in timeZone (DST-aware via Intl). */
function calendarIn(timeZone: string): (d: Date) => CalendarParts {
  const format = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "numeric", day: "numeric", hour: "numeric", hourCycle: "h23" });
  return (d) => {
    const parts: Record<string, number> = {};
    for (const p of format.formatToParts(d)) if (p.type !== "literal") parts[p.type] = Number(p.value);
    return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour! % 24 };
  };
}

/** ISO 8601 week ("2026-W01"): weeks start on Monday; week 1 holds the year's first Thursday. */
function isoWeek(p: CalendarParts): string {
  const date = new Date(Date.UTC(p.year, p.month - 1, p.day));
  const weekday = (date.getUTCDay() + 6) % 7; // Monday = 0
  date.setUTCDate(date.getUTCDate() - weekday + 3); // the Thursday of this week decides the year
  const weekYear = date.getUTCFullYear();
  const week = 1 + Math.floor((date.getTime() - Date.UTC(weekYear, 0, 1)) / (7 * 86_400_000));
  return `${weekYear}-W${pad(week)}`;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

function datePart(p: CalendarParts): string {
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

function formatDuration(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
