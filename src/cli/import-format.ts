import type { ImportResult } from "../transfer/import.js";

const num = (n: number, width = 9) => String(n).padStart(width);
const shown = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? "null");

/** The plan as a table, then the report (or what a dry run did not do). */
export function formatImport(r: ImportResult): string {
  const p = r.plan;
  const lines = [`import plan: export of ${p.export.source} (${p.export.createdAt}) into ${p.target}, strategy ${p.strategy}`];
  const width = Math.max(12, ...p.tables.map((t) => t.name.length));
  lines.push(`  ${"table".padEnd(width)} ${"key".padEnd(12)} ${["rows", "insert", "update", "unchanged", "skip", "conflict", "rejected"].map((h) => h.padStart(9)).join(" ")}`);
  for (const t of p.tables) {
    lines.push(`  ${t.name.padEnd(width)} ${t.key.join(",").padEnd(12)} ${[t.rows, t.insert, t.update, t.unchanged, t.skip, t.conflict, t.rejected].map((n) => num(n)).join(" ")}${t.created ? "  (table created)" : ""}`);
  }
  const conversions = p.tables.flatMap((t) => t.conversions.map((c) => `  ${t.name}.${c.column}: ${c.description}, e.g. ${shown(c.before)} → ${shown(c.after)}`));
  if (conversions.length) lines.push("conversions:", ...conversions);
  const conflicts = p.tables.flatMap((t) => t.conflicts.map((c) => `  ${t.name} ${Object.entries(c.key).map(([k, v]) => `${k}=${v}`).join(", ")}: ${c.differences.map((d) => `${d.column} ${shown(d.target)} → ${shown(d.export)}`).join("; ")}`));
  if (conflicts.length) lines.push("conflicting rows (target → export):", ...conflicts);
  if (p.orphans.length) lines.push("foreign-key orphans:", ...p.orphans.map((o) => `  ${o.table} ${o.foreignKey} → ${o.references}: ${o.count} row(s), e.g. ${o.samples.join("; ")}`));
  if (r.rejectsFile) lines.push(`rejected rows: ${p.tables.reduce((s, t) => s + t.rejected, 0)} in ${r.rejectsFile}`);
  if (!r.applied) {
    lines.push(r.planFile ? `plan written to ${r.planFile}; nothing was written to ${p.target}` : `dry run: nothing was written to ${p.target}`);
    return lines.join("\n");
  }
  const sum = (k: "inserted" | "updated" | "unchanged" | "skipped" | "rejected") => r.tables.reduce((s, t) => s + t[k], 0);
  lines.push(`import into ${p.target} committed in ${(r.durationMs / 1000).toFixed(1)} s: ${sum("inserted")} created, ${sum("updated")} updated, ${sum("unchanged")} unchanged, ${sum("skipped")} skipped, ${sum("rejected")} rejected`);
  lines.push(`  ${"table".padEnd(width)} ${["created", "updated", "unchanged", "skipped", "rejected"].map((h) => h.padStart(9)).join(" ")}`);
  for (const t of r.tables) lines.push(`  ${t.name.padEnd(width)} ${[t.inserted, t.updated, t.unchanged, t.skipped, t.rejected].map((n) => num(n)).join(" ")}`);
  if (r.backupId) lines.push(`backup before import: ${r.backupId} (undo: ${r.undo})`);
  return lines.join("\n");
}
