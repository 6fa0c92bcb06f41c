import type { PruneResult } from "../commands/prune.js";
import type { DatabaseStatus, StatusReport } from "../commands/status.js";
import { bytes, table } from "./text.js";

export function formatPrune(r: PruneResult): string {
  const lines: string[] = [];
  const verb = r.dryRun ? "would remove" : "removed";
  let source: string | undefined;
  for (const d of r.plan.decisions) {
    if (d.source !== source) {
      source = d.source;
      lines.push(`${source}`);
    }
    const mark = d.keep ? "keep  " : r.dryRun ? "remove" : "removed";
    lines.push(`  ${mark.padEnd(7)} ${d.id.padEnd(20)} ${d.time.toISOString()}${d.verified ? "  verified" : ""}${d.keep ? `  (${d.reasons.join(", ")})` : ""}`);
  }
  if (r.plan.decisions.length === 0) lines.push("no backups in scope");
  for (const d of r.safety) lines.push(`safety ${d.id} of ${d.source}: ${d.remove ? verb : "kept"} (${d.reason})`);
  for (const i of r.incomplete) lines.push(`incomplete ${i.id}: ${i.remove ? verb : "kept"}: ${i.reason}`);
  if (r.wal) lines.push(`WAL: ${verb} ${r.wal.removed.length} archived file(s) older than ${r.wal.oldestNeeded}, ${r.wal.kept} kept`);
  const removedIncomplete = r.incomplete.filter((i) => i.remove).length;
  const removedSafety = r.safety.filter((d) => d.remove).length;
  lines.push(
    `${r.plan.keep.length} kept, ${r.plan.remove.length} ${verb}` +
      (removedSafety ? `, ${removedSafety} safety backup(s) ${verb}` : "") +
      (removedIncomplete ? `, ${removedIncomplete} incomplete ${verb}` : "") +
      ` (policy: ${describePolicy(r)}, time zone ${r.plan.timeZone})` +
      (r.dryRun ? "; dry run: nothing was deleted" : ""),
  );
  return lines.join("\n");
}

function describePolicy(r: PruneResult): string {
  const p = r.plan.policy;
  const parts = [
    p.keepLast && `last ${p.keepLast}`,
    p.keepHourly && `hourly ${p.keepHourly}`,
    p.keepDaily && `daily ${p.keepDaily}`,
    p.keepWeekly && `weekly ${p.keepWeekly}`,
    p.keepMonthly && `monthly ${p.keepMonthly}`,
    p.keepYearly && `yearly ${p.keepYearly}`,
    p.keepWithinMs && `within ${Math.round(p.keepWithinMs / 3_600_000)}h`,
    p.minVerified && `min verified ${p.minVerified}`,
  ].filter(Boolean);
  return parts.length ? parts.join(", ") : "newest only";
}

export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86_400).toFixed(1)}d`;
}

/** "4" when every backup is full, else "6 (4 full, 2 safety)". */
function kindCounts(d: DatabaseStatus): string {
  const kinds = Object.entries(d.kinds);
  if (kinds.every(([k]) => k === "full")) return String(d.backups);
  return `${d.backups} (${kinds.map(([k, n]) => `${n} ${k}`).join(", ")})`;
}

export function formatStatus(r: StatusReport): string {
  if (r.databases.length === 0) return `no backups in ${r.repository} and no databases configured`;
  const now = Date.parse(r.now);
  // The drill column appears once drills are in use (scheduled or recorded).
  const drills = r.databases.some((d) => d.lastDrill || d.nextRuns.drill);
  const rows = r.databases.map((d) => {
    const next = Object.entries(d.nextRuns).sort((a, b) => (a[1] < b[1] ? -1 : 1))[0];
    return [
      d.name,
      d.newest ? d.newest.id : "never",
      d.newest ? `${age(d.newest.ageMs)}${d.stale ? " STALE" : ""}` : "STALE",
      d.newest ? bytes(d.newest.storedBytes) : "-",
      kindCounts(d),
      bytes(d.storedBytes),
      d.lastVerify ? `${d.lastVerify.ok ? "ok" : "FAILED"}${d.lastVerify.deep ? " (deep)" : ""} ${age(now - Date.parse(d.lastVerify.verifiedAt))} ago` : "never",
      next ? `${next[0]} in ${age(Date.parse(next[1]) - now)}` : "-",
      d.recoveryWindow ? `${d.recoveryWindow.from.slice(0, 16)} → ${d.recoveryWindow.to.slice(0, 16)}` : "-",
      ...(drills ? [d.lastDrill ? `${d.lastDrill.verdict} ${age(now - Date.parse(d.lastDrill.finishedAt))} ago` : d.nextRuns.drill ? "never" : "-"] : []),
    ];
  });
  return `repository ${r.repository}\n` + table(["DATABASE", "LAST BACKUP", "AGE", "SIZE", "BACKUPS", "STORED", "LAST VERIFY", "NEXT RUN", "RECOVERY WINDOW (UTC)", ...(drills ? ["LAST DRILL"] : [])], rows);
}
