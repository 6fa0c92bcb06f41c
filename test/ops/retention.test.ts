import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DEFAULT_POLICY, planRetention, type RetentionCandidate, type RetentionPolicy } from "../../src/repository/retention.js";

const NONE: RetentionPolicy = { keepLast: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0, keepWithinMs: 0, minVerified: 0 };
const SRC = "sqlite:/data/app.db";

function at(iso: string, opts: Partial<RetentionCandidate> = {}): RetentionCandidate {
  return { id: iso, source: SRC, time: new Date(iso), verified: false, ...opts };
}

function kept(candidates: RetentionCandidate[], policy: Partial<RetentionPolicy>, tz = "UTC", now = "2030-01-01T00:00:00Z"): string[] {
  return planRetention(candidates, { ...NONE, ...policy }, new Date(now), tz).keep.sort();
}

interface Case {
  name: string;
  times: string[];
  policy: Partial<RetentionPolicy>;
  tz?: string;
  now?: string;
  keep: string[];
}

const CASES: Case[] = [
  {
    name: "daily buckets follow the month end in UTC",
    times: ["2026-01-30T12:00:00Z", "2026-01-31T08:00:00Z", "2026-01-31T20:00:00Z", "2026-02-01T09:00:00Z"],
    policy: { keepDaily: 3 },
    keep: ["2026-01-30T12:00:00Z", "2026-01-31T20:00:00Z", "2026-02-01T09:00:00Z"],
  },
  {
    name: "daily buckets are local days: 23:30 UTC is already tomorrow in Berlin",
    times: ["2026-01-31T22:30:00Z", "2026-01-31T23:30:00Z", "2026-02-01T10:00:00Z"],
    policy: { keepDaily: 2 },
    tz: "Europe/Berlin",
    // 22:30Z = Jan 31 23:30 CET (its own day); 23:30Z and 10:00Z are both Feb 1 in Berlin.
    keep: ["2026-01-31T22:30:00Z", "2026-02-01T10:00:00Z"],
  },
  {
    name: "spring DST in Berlin: 01:30Z and 00:30Z are 03:30 CEST and 01:30 CET, two hours",
    times: ["2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"],
    policy: { keepHourly: 10 },
    tz: "Europe/Berlin",
    keep: ["2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"],
  },
  {
    name: "autumn DST in Berlin: 00:00Z and 01:00Z are both 02:00 local, one hourly bucket",
    times: ["2026-10-24T23:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"],
    policy: { keepHourly: 10 },
    tz: "Europe/Berlin",
    keep: ["2026-10-24T23:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"],
  },
  {
    name: "a DST day has 23 hours but is one daily bucket",
    times: ["2026-03-28T23:30:00Z", "2026-03-29T21:30:00Z", "2026-03-29T22:30:00Z"],
    policy: { keepDaily: 5 },
    tz: "Europe/Berlin",
    // 23:30Z = Mar 29 00:30 CET; 21:30Z = Mar 29 23:30 CEST; 22:30Z = Mar 30 00:30 CEST.
    keep: ["2026-03-29T21:30:00Z", "2026-03-29T22:30:00Z"],
  },
  {
    name: "leap year: February 29 is the newest of February",
    times: ["2028-02-28T12:00:00Z", "2028-02-29T12:00:00Z", "2028-03-01T12:00:00Z"],
    policy: { keepMonthly: 5 },
    keep: ["2028-02-29T12:00:00Z", "2028-03-01T12:00:00Z"],
  },
  {
    name: "leap day counts as its own day",
    times: ["2028-02-28T12:00:00Z", "2028-02-29T01:00:00Z", "2028-02-29T12:00:00Z", "2028-03-01T12:00:00Z"],
    policy: { keepDaily: 3 },
    keep: ["2028-02-28T12:00:00Z", "2028-02-29T12:00:00Z", "2028-03-01T12:00:00Z"],
  },
  {
    name: "ISO weeks: Dec 31 2026 and Jan 1 2027 share 2026-W53; Jan 4 2027 starts W01",
    times: ["2026-12-31T12:00:00Z", "2027-01-01T12:00:00Z", "2027-01-04T12:00:00Z"],
    policy: { keepWeekly: 5 },
    keep: ["2027-01-01T12:00:00Z", "2027-01-04T12:00:00Z"],
  },
  {
    name: "ISO weeks: Monday Dec 30 2024 is in 2025-W01 with Jan 5 2025",
    times: ["2024-12-29T12:00:00Z", "2024-12-30T12:00:00Z", "2025-01-05T12:00:00Z"],
    policy: { keepWeekly: 5 },
    keep: ["2024-12-29T12:00:00Z", "2025-01-05T12:00:00Z"],
  },
  {
    name: "yearly in Berlin: New Year's Eve 23:30 UTC belongs to the next year",
    times: ["2024-06-01T12:00:00Z", "2024-12-31T22:00:00Z", "2024-12-31T23:30:00Z"],
    policy: { keepYearly: 5 },
    tz: "Europe/Berlin",
    keep: ["2024-12-31T22:00:00Z", "2024-12-31T23:30:00Z"],
  },
  {
    name: "monthly in New York: Feb 1 03:00 UTC is still January",
    times: ["2026-01-15T12:00:00Z", "2026-02-01T03:00:00Z", "2026-02-10T12:00:00Z"],
    policy: { keepMonthly: 2 },
    tz: "America/New_York",
    keep: ["2026-02-01T03:00:00Z", "2026-02-10T12:00:00Z"],
  },
  {
    name: "keep-within keeps everything newer than now minus the duration",
    times: ["2026-05-01T00:00:00Z", "2026-05-20T00:00:00Z", "2026-05-30T00:00:00Z", "2026-05-31T00:00:00Z"],
    policy: { keepWithinMs: 12 * 86_400_000 },
    now: "2026-06-01T00:00:00Z",
    keep: ["2026-05-20T00:00:00Z", "2026-05-30T00:00:00Z", "2026-05-31T00:00:00Z"],
  },
  {
    name: "keep-last keeps the newest n whatever their day",
    times: ["2026-05-01T00:00:00Z", "2026-05-01T01:00:00Z", "2026-05-01T02:00:00Z", "2026-05-01T03:00:00Z"],
    policy: { keepLast: 2 },
    keep: ["2026-05-01T02:00:00Z", "2026-05-01T03:00:00Z"],
  },
  {
    name: "an empty policy still keeps the newest backup",
    times: ["2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z"],
    policy: {},
    keep: ["2026-05-02T00:00:00Z"],
  },
];

describe("retention plan (fixed clocks)", () => {
  it.each(CASES)("$name", ({ times, policy, tz, now, keep }) => {
    expect(kept(times.map((t) => at(t)), policy, tz, now)).toEqual([...keep].sort());
  });

  it("keeps the newest backups of each source separately", () => {
    const other = "postgres://db.example/app";
    const plan = planRetention(
      [at("2026-05-01T00:00:00Z"), at("2026-05-02T00:00:00Z"), at("2026-05-01T06:00:00Z", { id: "o1", source: other }), at("2026-05-01T07:00:00Z", { id: "o2", source: other })],
      { ...NONE, keepLast: 1 },
      new Date("2026-06-01T00:00:00Z"),
    );
    expect(plan.keep.sort()).toEqual(["2026-05-02T00:00:00Z", "o2"]);
    expect(plan.remove.sort()).toEqual(["2026-05-01T00:00:00Z", "o1"]);
  });

  it("keeps the newest verified backups up to min-verified and says why", () => {
    const c = [at("2026-05-01T00:00:00Z", { verified: true }), at("2026-05-02T00:00:00Z", { verified: true }), at("2026-05-03T00:00:00Z"), at("2026-05-04T00:00:00Z")];
    const plan = planRetention(c, { ...NONE, keepLast: 1, minVerified: 1 }, new Date("2026-06-01T00:00:00Z"));
    expect(plan.keep.sort()).toEqual(["2026-05-02T00:00:00Z", "2026-05-04T00:00:00Z"]);
    expect(plan.decisions.find((d) => d.id === "2026-05-02T00:00:00Z")!.reasons).toEqual(["verified (keep at least 1)"]);
    expect(plan.decisions.find((d) => d.id === "2026-05-04T00:00:00Z")!.reasons).toEqual(["newest", "last 1/1"]);
    expect(plan.decisions.find((d) => d.id === "2026-05-01T00:00:00Z")!.reasons).toEqual([]);
  });

  it("explains every rule that keeps a backup", () => {
    const plan = planRetention([at("2026-11-22T10:00:00Z")], { ...DEFAULT_POLICY, keepLast: 1 }, new Date("2026-11-23T00:00:00Z"), "Europe/Berlin");
    expect(plan.decisions[0]!.reasons).toEqual(["newest", "last 1/1", "daily 2026-11-22", "weekly 2026-W47", "monthly 2026-11"]);
  });

  it("applies GFS defaults (7 daily, 4 weekly, 12 monthly) to two years of daily backups", () => {
    const times = Array.from({ length: 730 }, (_, i) => new Date(Date.UTC(2025, 0, 1, 3) + i * 86_400_000).toISOString());
    const plan = planRetention(times.map((t) => at(t)), DEFAULT_POLICY, new Date("2027-01-01T00:00:00Z"));
    const reasons = (id: string) => plan.decisions.find((d) => d.id === id)!.reasons;
    expect(plan.keep).toContain("2026-12-31T03:00:00.000Z");
    expect(reasons("2026-12-25T03:00:00.000Z")).toContain("daily 2026-12-25");
    expect(reasons("2026-12-24T03:00:00.000Z")).toEqual([]);
    // Sundays close the ISO weeks: W52 ends Dec 27 2026, W51 Dec 20, W50 Dec 13.
    expect(reasons("2026-12-20T03:00:00.000Z")).toEqual(["weekly 2026-W51"]);
    expect(reasons("2026-12-13T03:00:00.000Z")).toEqual(["weekly 2026-W50"]);
    expect(reasons("2026-01-31T03:00:00.000Z")).toEqual(["monthly 2026-01"]);
    expect(reasons("2025-12-31T03:00:00.000Z")).toEqual([]);
    // 7 daily + 4 weekly (the newest shared with daily, W52's Sunday is Dec 27: daily) + 12 monthly (Dec shared).
    expect(plan.keep.length).toBe(7 + 2 + 11);
  });

  it("rejects a negative or fractional count", () => {
    expect(() => planRetention([], { ...NONE, keepDaily: -1 }, new Date())).toThrow(/keepDaily/);
    expect(() => planRetention([], { ...NONE, keepLast: 1.5 }, new Date())).toThrow(/keepLast/);
  });
});

const ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"];
const SOURCES = ["sqlite:/a.db", "sqlite:/b.db", "postgres://h/c"];
const START = Date.UTC(2023, 0, 1);
const SPAN = 3 * 365 * 86_400_000;

const candidatesArb = fc
  .array(fc.record({ offset: fc.integer({ min: 0, max: SPAN }), source: fc.constantFrom(...SOURCES), verified: fc.boolean() }), { minLength: 0, maxLength: 60 })
  .map((items) => items.map((x, i): RetentionCandidate => ({ id: `b${i}`, source: x.source, time: new Date(START + x.offset), verified: x.verified })));
const small = fc.integer({ min: 0, max: 8 });
const policyArb = fc.record({
  keepLast: small,
  keepHourly: small,
  keepDaily: small,
  keepWeekly: small,
  keepMonthly: small,
  keepYearly: small,
  keepWithinMs: fc.constantFrom(0, 3_600_000, 7 * 86_400_000, 90 * 86_400_000),
  minVerified: fc.integer({ min: 0, max: 4 }),
});

describe("retention plan (properties)", () => {
  it("never removes the newest backup of a source, nor one a rule keeps", () => {
    fc.assert(
      fc.property(candidatesArb, policyArb, fc.constantFrom(...ZONES), fc.integer({ min: 0, max: SPAN }), (candidates, policy, tz, nowOffset) => {
        const now = new Date(START + nowOffset);
        const plan = planRetention(candidates, policy, now, tz);
        expect(plan.keep.length + plan.remove.length).toBe(candidates.length);
        expect(new Set([...plan.keep, ...plan.remove]).size).toBe(candidates.length);
        for (const source of SOURCES) {
          const mine = candidates.filter((c) => c.source === source).sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1));
          if (mine.length === 0) continue;
          expect(plan.keep).toContain(mine[0]!.id);
          for (const c of mine.slice(0, policy.keepLast)) expect(plan.keep).toContain(c.id);
          if (policy.keepWithinMs > 0) for (const c of mine.filter((c) => c.time.getTime() >= now.getTime() - policy.keepWithinMs)) expect(plan.keep).toContain(c.id);
          const verified = mine.filter((c) => c.verified);
          const keptVerified = verified.filter((c) => plan.keep.includes(c.id)).length;
          expect(keptVerified).toBeGreaterThanOrEqual(Math.min(policy.minVerified, verified.length));
        }
        for (const d of plan.decisions) expect(d.keep).toBe(d.reasons.length > 0);
      }),
      { numRuns: 300 },
    );
  });

  it("a larger policy keeps a superset (without min-verified)", () => {
    fc.assert(
      fc.property(candidatesArb, policyArb, policyArb, fc.constantFrom(...ZONES), (candidates, a, extra, tz) => {
        const base = { ...a, minVerified: 0 };
        const bigger: RetentionPolicy = {
          keepLast: a.keepLast + extra.keepLast,
          keepHourly: a.keepHourly + extra.keepHourly,
          keepDaily: a.keepDaily + extra.keepDaily,
          keepWeekly: a.keepWeekly + extra.keepWeekly,
          keepMonthly: a.keepMonthly + extra.keepMonthly,
          keepYearly: a.keepYearly + extra.keepYearly,
          keepWithinMs: Math.max(a.keepWithinMs, extra.keepWithinMs),
          minVerified: 0,
        };
        const now = new Date(START + SPAN);
        const small = new Set(planRetention(candidates, base, now, tz).keep);
        const large = new Set(planRetention(candidates, bigger, now, tz).keep);
        for (const id of small) expect(large.has(id)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
