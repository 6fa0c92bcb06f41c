import type { CheckReport } from "../engines/engine.js";
import type { Manifest } from "../repository/manifest.js";
import type { DrillCheck, DrillRecord } from "./record.js";

/** Layers of checks, in the order they are reported. */
export class CheckList {
  readonly checks: DrillCheck[] = [];

  add(layer: DrillCheck["layer"], name: string, status: DrillCheck["status"], detail: string): void {
    this.checks.push({ layer, name, status, detail });
  }

  /** The engine's comparison with the manifest (row counts, content checksums): missing data is never a pass. */
  addTables(manifest: Manifest, report: CheckReport): void {
    if (manifest.tables.length === 0) {
      this.add("tables", "tables recorded", "inconclusive", `backup ${manifest.id} records no tables: there is nothing to compare the restore with`);
    }
    for (const t of report.tables) {
      const rowsOk = t.actualRows === t.expectedRows;
      const parts = [t.actualRows === null ? "missing" : `${t.actualRows} rows, manifest ${t.expectedRows}`];
      if (t.checksumMatches !== undefined) parts.push(t.checksumMatches ? "content checksum matches" : "content checksum differs");
      const ok = rowsOk && t.checksumMatches !== false;
      this.add("tables", t.name, ok ? "pass" : "fail", parts.join("; "));
    }
    const listed = new Set(report.tables.map((t) => t.name));
    for (const p of report.problems) if (![...listed].some((n) => p.includes(`table ${n} `))) this.add("tables", "database", "fail", p);
  }

  /** FAIL when any check failed; INCONCLUSIVE when any could not decide; PASS only when every layer passed. */
  verdict(): { verdict: DrillRecord["verdict"]; reasons: string[] } {
    const failed = this.checks.filter((c) => c.status === "fail");
    if (failed.length) return { verdict: "FAIL", reasons: failed.map(describe) };
    const open = this.checks.filter((c) => c.status === "inconclusive");
    if (open.length) return { verdict: "INCONCLUSIVE", reasons: open.map(describe) };
    if (!this.checks.some((c) => c.status === "pass")) return { verdict: "INCONCLUSIVE", reasons: ["no check ran"] };
    return { verdict: "PASS", reasons: [] };
  }
}

function describe(c: DrillCheck): string {
  return `${c.layer} ${c.name}: ${c.detail}`;
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return "unknown";
  const sign = ms < 0 ? "-" : "";
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${abs} ms`;
  if (abs < 120_000) return `${sign}${(abs / 1000).toFixed(1)} s`;
  if (abs < 7_200_000) return `${sign}${(abs / 60_000).toFixed(1)} min`;
  return `${sign}${(abs / 3_600_000).toFixed(1)} h`;
}

/** Measured against its target: over the target fails, no measure against a target cannot pass. */
export function judgeObjective(checks: CheckList, name: "RTO" | "RPO", measured: number | undefined, target: number | undefined): void {
  if (target === undefined) {
    checks.add("objectives", name, measured === undefined ? "inconclusive" : "skipped", measured === undefined ? `${name} could not be measured` : `${formatMs(measured)} (no target configured)`);
    return;
  }
  if (measured === undefined) checks.add("objectives", name, "inconclusive", `${name} could not be measured; target ${formatMs(target)}`);
  else checks.add("objectives", name, measured <= target ? "pass" : "fail", `${formatMs(measured)}, target ${formatMs(target)}`);
}

/** PostgreSQL's log time "2026-11-24 07:50:01.123+00" / "… UTC" as an ISO instant (undefined when unreadable). */
export function pgLogTime(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(UTC|GMT|Z|[+-]\d{2}(?::?\d{2})?)?/.exec(text.trim());
  if (!m) return undefined;
  const zone = !m[3] || /^(UTC|GMT|Z)$/.test(m[3]) ? "Z" : m[3].length === 3 ? `${m[3]}:00` : m[3].includes(":") ? m[3] : `${m[3].slice(0, 3)}:${m[3].slice(3)}`;
  const date = new Date(`${m[1]}T${m[2]}${zone}`);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
