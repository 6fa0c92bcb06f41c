import type { DownResult, Plan, RepairResult, StatusReport, UpResult } from "../migrate/index.js";
import { bytes, seconds, table } from "./text.js";

const v = (n: number | null): string => (n === null ? "none" : String(n));

export function formatStatus(r: StatusReport): string {
  const rows = r.migrations.map((m) => [String(m.version), m.name, m.state + (m.state === "partial" ? ` (${m.statementsDone}/${m.statementsTotal} statements)` : ""), m.appliedAt ?? "", m.appliedBy ?? ""]);
  const lines = [`${r.target}: at version ${v(r.current)} of ${v(r.latest)}, ${r.pending} pending`, rows.length ? table(["VERSION", "NAME", "STATE", "APPLIED", "BY"], rows) : "(no migrations)"];
  for (const d of r.drift) lines.push(`drift in ${d.version}_${d.name} (${d.file}):`, `--- applied`, `+++ ${d.file}`, d.diff);
  return lines.join("\n");
}

export function formatPlan(p: Plan): string {
  if (p.migrations.length === 0) return `${p.target}: nothing to do (at version ${v(p.current)})`;
  const lines = [`${p.target}: ${v(p.current)} → ${v(p.to)}`];
  for (const m of p.migrations) {
    lines.push(`  ${m.direction} ${m.version}_${m.name}: ${m.statements} statement(s)${m.noTransaction ? `, statement by statement (${m.noTransaction})` : ", one transaction"}`);
    for (const d of m.destructive) {
      const size = d.rows === undefined ? "unmeasured" : `${d.rows} rows${d.bytes !== undefined ? `, ${bytes(d.bytes)}` : ""}`;
      lines.push(`    DESTRUCTIVE ${d.kind} ${d.table}${d.column ? `.${d.column}` : ""}${d.toType ? ` → ${d.toType}` : ""}: discards ${size}`);
    }
  }
  if (p.dataLoss.length) lines.push(`${p.dataLoss.length} change(s) discard data: up/down need --allow-data-loss`);
  return lines.join("\n");
}

export function formatUp(r: UpResult): string {
  if (r.applied.length === 0) return `${r.target}: nothing to do (at version ${v(r.current)})`;
  const lines = r.applied.map((a) => `applied ${a.version}_${a.name} in ${seconds(a.executionMs)}${a.noTransaction ? " (statement by statement)" : ""}${a.resumedAt ? `, resumed at statement ${a.resumedAt}` : ""}${a.lockRetries ? `, ${a.lockRetries} lock retries` : ""}`);
  return [...lines, `${r.target}: now at version ${v(r.current)}`].join("\n");
}

export function formatDown(r: DownResult): string {
  if (r.reverted.length === 0) return `${r.target}: nothing to revert (at version ${v(r.current)})`;
  return [...r.reverted.map((x) => `reverted ${x.version}_${x.name} in ${seconds(x.executionMs)}`), `${r.target}: now at version ${v(r.current)}`].join("\n");
}

export function formatRepair(r: RepairResult): string {
  if (r.repaired.length === 0) return `${r.target}: no drift to repair`;
  return r.repaired.map((x) => `repaired ${x.version}_${x.name}: checksum ${x.oldChecksum.slice(0, 12)} → ${x.newChecksum.slice(0, 12)}`).join("\n");
}
