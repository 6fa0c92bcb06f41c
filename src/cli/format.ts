import type { Manifest } from "../repository/manifest.js";
import { kindOf, totalContentBytes, totalStoredBytes } from "../repository/manifest.js";
import { describeIncomplete } from "../repository/incomplete.js";
import type { ListResult } from "../commands/catalog.js";
import type { VerifyReport } from "../commands/verify.js";
import type { RestoreResult } from "../commands/restore.js";
import { findEngine } from "../engines/registry.js";
import { bytes, seconds, table } from "./text.js";

export { bytes, seconds, table };

export function formatList(result: ListResult): string {
  const notes = [
    ...result.incomplete.map((i) => `${i.state === "interrupted" ? "INTERRUPTED" : "IN PROGRESS"} ${describeIncomplete(i)}`),
    ...result.damaged.map((d) => `DAMAGED backup ${d.id}: ${d.error}`),
  ];
  if (result.backups.length === 0) return [`no backups in ${result.repository}`, ...notes].join("\n");
  const rows = result.backups.map((m) => [
    m.id,
    kindOf(m) === "full" ? "full" : `${kindOf(m)}${kindOf(m) === "safety" ? " *" : ""}`,
    m.engine,
    m.source.uri,
    bytes(totalContentBytes(m)),
    bytes(totalStoredBytes(m)),
    seconds(m.durationMs),
    Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(","),
    ...(result.copies ? [["primary", ...result.copies.filter((c) => c.ids.includes(m.id)).map((c) => c.location)].join(", ")] : []),
  ]);
  let out = table(["ID", "KIND", "ENGINE", "SOURCE", "SIZE", "STORED", "DURATION", "LABELS", ...(result.copies ? ["STORED IN"] : [])], rows);
  for (const c of result.copies ?? []) if (c.error) out += `\n(offsite copy ${c.location} could not be read: ${c.error})`;
  if (result.backups.some((m) => kindOf(m) === "safety")) out += "\n* safety backup: taken automatically before a restore replaced a database; never `latest`, kept apart by prune";
  for (const n of notes) out += `\n${n}`;
  return out;
}

export function formatManifest(m: Manifest): string {
  const lines = [
    `backup      ${m.id} (${kindOf(m)})`,
    `engine      ${m.engine} ${m.source.version}`,
    `source      ${m.source.uri} (${bytes(m.source.sizeBytes)})`,
    `taken       ${m.startedAt} → ${m.finishedAt} (${seconds(m.durationMs)})`,
    `by          holdfast ${m.holdfast.version} on ${m.host.hostname} (${m.host.platform})`,
    `labels      ${Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(", ") || "-"}`,
    "files",
    ...m.files.map(
      (f) =>
        `  ${f.key}\n    content ${bytes(f.contentBytes)} sha256 ${f.contentSha256}\n    stored  ${bytes(f.storedBytes)} sha256 ${f.storedSha256}  (${f.compression.algorithm}${f.compression.algorithm === "none" ? "" : ` level ${f.compression.level}`}, ${f.encryption === "age" ? `age-encrypted${f.keyId ? ` to key ${f.keyId}` : ""}` : "not encrypted"})`,
    ),
    "tables",
    ...(m.tables.length ? m.tables.map((t) => `  ${t.name.padEnd(30)} ${String(t.rows).padStart(12)} rows${t.checksum ? `  checksum ${t.checksum.slice(0, 16)}…` : ""}`) : ["  (none)"]),
    "details",
    ...Object.entries(m.details).flatMap(([k, v]) => detailLines(k, v)),
  ];
  return lines.join("\n");
}

/** One detail of a manifest; the physical engine's configuration files one a line, its warnings loud. */
function detailLines(key: string, value: unknown): string[] {
  if (key === "configWarnings" && Array.isArray(value)) return value.map((w) => `  WARNING ${String(w)}`);
  if (key === "configFiles" && Array.isArray(value)) {
    const where = (f: Record<string, unknown>) => (f.insideDataDirectory ? "in the data directory (in base)" : f.storedAs ? `stored as ${String(f.storedAs)}` : "NOT STORED");
    return [`  ${key}`, ...(value as Record<string, unknown>[]).map((f) => `    ${String(f.role).padEnd(12)} ${String(f.path)}  ${where(f)}`)];
  }
  return [`  ${key.padEnd(20)} ${typeof value === "string" ? value : JSON.stringify(value)}`];
}

export function formatVerify(report: VerifyReport): string {
  const lines: string[] = [];
  for (const b of report.backups) {
    lines.push(`${b.ok ? "ok    " : "FAILED"} ${b.id} (${b.engine}${b.source ? ` of ${b.source}` : ""})`);
    for (const f of b.files) lines.push(`  ${f.ok ? "ok" : "FAILED"} ${f.key}${f.level === "stored" ? " (stored bytes only: no key given)" : ""}${f.error ? `: ${f.error}` : ""}`);
    if (b.deep) {
      lines.push(`  deep check: ${b.deep.ok ? "ok" : "FAILED"}${b.deep.details.integrityCheck ? ` (integrity_check ${String(b.deep.details.integrityCheck)})` : ""}`);
      for (const t of b.deep.tables) lines.push(`    ${t.name.padEnd(30)} expected ${t.expectedRows} rows, found ${t.actualRows ?? "nothing"}${t.checksumMatches === false ? " (checksum differs)" : ""}`);
      for (const p of b.deep.problems) lines.push(`    problem: ${p}`);
    }
    if (b.error && !b.files.some((f) => f.error)) lines.push(`  ${b.error.message}`);
  }
  const failed = report.backups.filter((b) => !b.ok).length;
  lines.push(`${report.backups.length} backup(s) verified, ${failed} failed`);
  return lines.join("\n");
}

/** A restore's JSON report: the engine's details (recovery target, server log, …) beside the common fields. */
export function restoreJson(r: RestoreResult): RestoreResult & Record<string, unknown> {
  return { ...r.details, ...r };
}

export function formatRestore(r: RestoreResult): string {
  const lines = [`${r.headline ?? `restored backup ${r.backupId} (${r.kind}) of ${r.source} to ${r.target}`} in ${seconds(r.durationMs)}`];
  lines.push(...(r.notes ?? []).map((n) => `  ${n}`));
  if (r.safetyBackupId) lines.push(`safety backup ${r.safetyBackupId} holds the database as it was before (holdfast restore ${r.safetyBackupId} --in-place puts it back)`);
  if (r.fallback) lines.push(`restored from the offsite copy ${r.fallback.location} because the primary failed: ${r.fallback.primaryError}`);
  if (r.safetyCopy && !r.safetyBackupId && !r.notes) lines.push(`previous ${findEngine(r.engine)?.targetNoun ?? "database"} kept at ${r.safetyCopy}`);
  if (r.check.tables.length || r.check.problems.length || !r.notes) lines.push(`checks: ${[r.check.ok ? "ok" : r.check.problems.join("; "), r.check.tables.map((t) => `${t.name}=${t.actualRows}`).join(", ")].filter(Boolean).join("; ")}`);
  return lines.join("\n");
}

export function formatBackup(m: Manifest): string {
  const summary = findEngine(m.engine)?.summarize?.(m) ?? m.files.map((f) => `${f.key} (${f.storedBytes} bytes)`).join(", ");
  return `backup ${m.id} (${kindOf(m)}) of ${m.source.uri} complete: ${summary}`;
}
