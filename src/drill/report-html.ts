import type { DrillRecord } from "./record.js";
import { formatMs } from "./verdict.js";

const esc = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const COLOURS: Record<string, string> = { fetch: "#4e79a7", decode: "#f28e2b", restore: "#59a14f", recovery: "#b07aa1", checks: "#76b7b2" };
const STATUS: Record<string, string> = { pass: "#2e7d32", fail: "#c62828", inconclusive: "#ef6c00", skipped: "#757575" };
const VERDICT: Record<string, string> = { PASS: "#2e7d32", FAIL: "#c62828", INCONCLUSIVE: "#ef6c00" };

/** The drill's report as one self-contained page: inline CSS, no script, no external resource. */
export function renderDrillHtml(r: DrillRecord): string {
  const total = Math.max(1, r.phases.reduce((s, p) => s + p.ms, 0));
  const bar = r.phases
    .map((p) => `<div class="seg" style="width:${((p.ms / total) * 100).toFixed(2)}%;background:${COLOURS[p.name]}" title="${esc(`${p.name}: ${formatMs(p.ms)}`)}">${esc(p.name)}</div>`)
    .join("");
  const phases = r.phases.map((p) => `<tr><td><span class="dot" style="background:${COLOURS[p.name]}"></span>${esc(p.name)}</td><td>${esc(p.startedAt)}</td><td class="n">${esc(formatMs(p.ms))}</td><td>${esc(p.covers)}</td></tr>`).join("");
  const checks = r.checks.map((c) => `<tr><td>${esc(c.layer)}</td><td>${esc(c.name)}</td><td style="color:${STATUS[c.status]};font-weight:600">${esc(c.status.toUpperCase())}</td><td>${esc(c.detail)}</td></tr>`).join("");
  const kv = (rows: [string, string | undefined][]) => rows.filter(([, v]) => v !== undefined).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v!)}</td></tr>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Holdfast drill ${esc(r.id)}: ${esc(r.verdict)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.verdict{display:inline-block;padding:.2rem .8rem;border-radius:4px;color:#fff;font-weight:700}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{width:12rem;color:#555;font-weight:600}.n{text-align:right;white-space:nowrap}
.bar{display:flex;height:2rem;border-radius:4px;overflow:hidden;margin:.5rem 0}.seg{color:#fff;font-size:12px;line-height:2rem;text-align:center;overflow:hidden;white-space:nowrap;min-width:2px}
.dot{display:inline-block;width:.7rem;height:.7rem;border-radius:50%;margin-right:.4rem}
ul.reasons li{color:#c62828}
</style></head><body>
<h1>Disaster-recovery drill of ${esc(r.database)} <span class="verdict" style="background:${VERDICT[r.verdict]}">${esc(r.verdict)}</span></h1>
${r.reasons.length ? `<ul class="reasons">${r.reasons.map((x) => `<li>${esc(x)}</li>`).join("")}</ul>` : ""}
<h2>Objectives</h2>
<table>${kv([
    ["RTO measured", formatMs(r.rtoMs)],
    ["RTO target", r.targets.rtoMs === undefined ? "none configured" : formatMs(r.targets.rtoMs)],
    ["RPO measured", formatMs(r.rpo.ms)],
    ["RPO target", r.targets.rpoMs === undefined ? "none configured" : formatMs(r.targets.rpoMs)],
    ["Requested point", `${r.requested.kind === "latest" ? "latest (the drill's start)" : "point in time"}: ${r.rpo.requestedPoint}`],
    ["Newest data restored", r.rpo.newestData ? `${r.rpo.newestData} (${r.rpo.basis})` : `unknown (${r.rpo.basis})`],
  ])}</table>
<h2>Timeline (RTO per phase)</h2>
<div class="bar">${bar}</div>
<table><tr><th>Phase</th><th>Started</th><th class="n">Took</th><th>Covers</th></tr>${phases}</table>
<h2>Checks</h2>
<table><tr><th>Layer</th><th>Check</th><th>Result</th><th>Detail</th></tr>${checks}</table>
${r.recovery ? `<h2>Recovery</h2><table>${kv(Object.entries(r.recovery))}</table>` : ""}
<h2>Drill</h2>
<table>${kv([
    ["Drill id", r.id],
    ["Database", r.database],
    ["Source", r.source],
    ["Engine", r.engine],
    ["Backup", r.backupId],
    ["Read from", r.from],
    ["Scratch target", r.scratch],
    ["Started", r.startedAt],
    ["Finished", r.finishedAt],
    ["Run by", `${r.ranBy.user} on ${r.ranBy.host} (pid ${r.ranBy.pid})`],
    ["Versions", `Holdfast ${r.versions.holdfast}, database ${r.versions.database}, Node ${r.versions.node}`],
  ])}</table>
</body></html>
`;
}
