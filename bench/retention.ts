/**
 * Retention planning cost: 10 years of hourly backups (87,600) across 3 sources, GFS policy in
 * Europe/Berlin. Prints the plan time and peak RSS. Run: npx tsx bench/retention.ts
 */
import { DEFAULT_POLICY, planRetention, type RetentionCandidate } from "../src/repository/retention.js";

const HOUR = 3_600_000;
const start = Date.UTC(2016, 0, 1);
const candidates: RetentionCandidate[] = [];
for (let i = 0; i < 87_600; i++) candidates.push({ id: `b${i}`, source: `sqlite:/db${i % 3}.db`, time: new Date(start + i * HOUR), verified: i % 24 === 0 });
const t0 = performance.now();
const plan = planRetention(candidates, { ...DEFAULT_POLICY, keepHourly: 24, keepYearly: 5 }, new Date(start + 87_600 * HOUR), "Europe/Berlin");
const ms = performance.now() - t0;
console.log(`retention plan of ${candidates.length} backups: ${ms.toFixed(0)} ms (${((ms * 1000) / candidates.length).toFixed(1)} µs/backup), kept ${plan.keep.length}`);
console.log(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
