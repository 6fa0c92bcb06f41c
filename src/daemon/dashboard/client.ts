/**
 * The dashboard's browser script, served as /dashboard/app.js (no framework, no CDN). It reads the
 * JSON API, escapes every value it puts into HTML, draws size trends as inline SVG, and polls the
 * overview so the page stays current without a reload. Kept as plain ES2020 in a string so the
 * build needs no bundler and the package ships it inside dist/.
 */
export const CLIENT_SCRIPT = String.raw`"use strict";
(() => {
  const POLL_MS = 2000;
  const main = document.getElementById("main");
  const page = document.body.dataset.page;
  const id = document.body.dataset.id;
  const esc = (v) => String(v === undefined || v === null ? "" : v).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  const link = (href, text) => '<a href="' + esc(href) + '">' + esc(text) + "</a>";
  const bytes = (n) => {
    if (n === undefined || n === null) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  };
  const dur = (ms) => {
    if (ms === undefined || ms === null) return "—";
    const s = Math.abs(ms) / 1000;
    const sign = ms < 0 ? "-" : "";
    if (s < 1) return sign + Math.round(Math.abs(ms)) + " ms";
    if (s < 120) return sign + s.toFixed(s < 10 ? 1 : 0) + " s";
    if (s < 7200) return sign + Math.round(s / 60) + " min";
    if (s < 172800) return sign + (s / 3600).toFixed(1) + " h";
    return sign + (s / 86400).toFixed(1) + " d";
  };
  const ago = (iso, now) => (iso ? dur(now - Date.parse(iso)) + " ago" : "—");
  const vs = (label, measured, target) => {
    const late = measured !== undefined && target !== undefined && measured > target;
    return '<span class="' + (late ? "late" : "") + '">' + esc(label + " " + dur(measured)) + "</span>" + (target !== undefined ? ' <span class="muted">/ target ' + esc(dur(target)) + "</span>" : "");
  };
  const trend = (points) => {
    if (points.length === 0) return '<span class="muted">—</span>';
    const w = 120, h = 28, max = Math.max(...points.map((p) => p.storedBytes), 1);
    const x = (i) => (points.length === 1 ? w / 2 : 2 + (i * (w - 4)) / (points.length - 1));
    const y = (v) => h - 2 - (v / max) * (h - 4);
    const coords = points.map((p, i) => x(i).toFixed(1) + "," + y(p.storedBytes).toFixed(1)).join(" ");
    const last = points[points.length - 1];
    const title = points.map((p) => p.id + ": " + bytes(p.storedBytes)).join("\n");
    return '<svg class="trend" width="' + w + '" height="' + h + '" viewBox="0 0 ' + w + " " + h + '" role="img"><title>' + esc(title) + "</title>" +
      '<polyline points="' + coords + '"></polyline><circle r="2.5" cx="' + x(points.length - 1).toFixed(1) + '" cy="' + y(last.storedBytes).toFixed(1) + '"></circle></svg> ' + esc(bytes(last.storedBytes));
  };

  const row = (d, now) => {
    const b = d.lastBackup;
    const backupCell = b
      ? link("/dashboard/backups/" + b.id, b.id) + "<br>" + vs("age", b.ageMs, d.rpoTargetMs) + (d.rpoTargetMs === undefined ? ' <span class="muted">/ stale after ' + esc(dur(d.staleAfterMs)) + "</span>" : "")
      : '<span class="failed">no backup yet</span>';
    const v = d.lastVerify;
    const verifyCell = v ? '<span class="' + (v.ok ? "ok" : "failed") + '">' + (v.ok ? "OK" : "FAILED") + "</span> " + esc((v.deep ? "deep, " : "") + ago(v.verifiedAt, now)) : '<span class="muted">never</span>';
    const w = d.recoveryWindow;
    const windowCell = w ? esc(w.from) + " →<br>" + esc(w.to) : '<span class="muted">—</span>';
    const r = d.lastDrill;
    const drillCell = r
      ? link("/dashboard/drills/" + r.id, r.verdict) + " " + esc(ago(r.finishedAt, now)) + "<br>" + vs("RTO", r.rtoMs, r.targets.rtoMs) + "<br>" + vs("RPO", r.rpoMs, r.targets.rpoMs)
      : '<span class="muted">never</span>';
    const copies = d.offsite.copies.map((c) => esc(c.location) + ": " + (c.error ? '<span class="failed">' + esc(c.error) + "</span>" : c.hasNewest === undefined ? "—" : c.hasNewest ? '<span class="ok">has newest</span>' : '<span class="late">missing newest</span>'));
    const lc = d.offsite.lastCopy;
    if (lc) copies.push("last copy " + (lc.ok ? '<span class="ok">ok</span>' : '<span class="failed">failed</span>') + " " + esc(ago(lc.at, now)));
    const offsiteCell = copies.length ? copies.join("<br>") : '<span class="muted">none</span>';
    const f = d.lastFailure;
    const failureCell = f ? '<span class="failed">' + esc(f.kind) + "</span> " + esc(ago(f.at, now)) + '<br><span class="problem">' + esc(f.error) + "</span>" : '<span class="muted">—</span>';
    const problems = d.problems.map((p) => '<div class="problem">' + esc(p) + "</div>").join("");
    return '<tr class="db ' + esc(d.health) + '" data-database="' + esc(d.name) + '" title="' + esc(d.problems.join("\n")) + '">' +
      '<td class="name"><strong>' + esc(d.name) + '</strong><br><span class="muted">' + esc(d.source) + "</span>" + problems + "</td>" +
      '<td class="backup">' + backupCell + '</td><td class="trend">' + trend(d.trend) + '</td><td class="verify">' + verifyCell + "</td>" +
      '<td class="window">' + windowCell + '</td><td class="drill">' + drillCell + '</td><td class="offsite">' + offsiteCell + "</td>" +
      '<td class="wal n">' + (d.walLagMs === undefined ? '<span class="muted">—</span>' : esc(dur(d.walLagMs))) + '</td><td class="failure">' + failureCell + "</td></tr>";
  };

  const overview = (o) => {
    const now = Date.parse(o.now);
    document.getElementById("repository").textContent = o.repository;
    main.innerHTML = "<h1>Databases</h1><table id=\"databases\"><thead><tr><th>Database</th><th>Last backup</th><th>Size trend</th><th>Last verify</th>" +
      "<th>Recovery window</th><th>Last drill</th><th>Offsite copy</th><th>WAL lag</th><th>Last failure</th></tr></thead><tbody>" +
      o.databases.map((d) => row(d, now)).join("") + "</tbody></table>";
  };

  const kv = (rows) => '<dl class="kv">' + rows.filter((r) => r[1] !== undefined && r[1] !== "").map((r) => "<dt>" + esc(r[0]) + "</dt><dd>" + esc(r[1]) + "</dd>").join("") + "</dl>";
  const table = (head, rows) => "<table><thead><tr>" + head.map((h) => "<th>" + esc(h) + "</th>").join("") + "</tr></thead><tbody>" +
    rows.map((r) => "<tr>" + r.map((c) => "<td>" + esc(c) + "</td>").join("") + "</tr>").join("") + "</tbody></table>";

  const backup = (b) => {
    const m = b.manifest;
    const size = m.files.reduce((s, f) => s + f.storedBytes, 0);
    main.innerHTML = "<h1>Backup " + esc(m.id) + (b.database ? " of " + esc(b.database) : "") + "</h1>" +
      kv([["Source", m.source.uri], ["Engine", m.engine], ["Kind", m.kind || "full"], ["Started", m.startedAt], ["Finished", m.finishedAt], ["Took", dur(m.durationMs)],
        ["Stored", bytes(size)], ["Source size", bytes(m.source.sizeBytes)], ["Database version", m.source.version], ["Holdfast", m.holdfast.version], ["Host", m.host.hostname],
        ["Labels", Object.entries(m.labels).map((e) => e[0] + "=" + e[1]).join(", ")]]) +
      "<h2>Files</h2>" + table(["Name", "Stored", "Content", "Compression", "Encryption"], m.files.map((f) => [f.name, bytes(f.storedBytes), bytes(f.contentBytes), f.compression.algorithm + " " + f.compression.level, f.encryption])) +
      '<h2>Tables</h2><div id="tables">' + (m.tables.length ? table(["Table", "Rows", "Checksum"], m.tables.map((t) => [t.name, String(t.rows), t.checksum || ""])) : '<p class="muted">none recorded</p>') + "</div>" +
      "<h2>Manifest</h2><pre>" + esc(JSON.stringify(m, null, 2)) + "</pre>";
  };

  const drill = (r) => {
    main.innerHTML = "<h1>Drill of " + esc(r.database) + ' <span class="verdict ' + esc(r.verdict) + '">' + esc(r.verdict) + "</span></h1>" +
      '<p id="objectives">' + vs("RTO", r.rtoMs, r.targets.rtoMs) + " · " + vs("RPO", r.rpo.ms, r.targets.rpoMs) + "</p>" +
      (r.reasons.length ? "<ul>" + r.reasons.map((x) => '<li class="failed">' + esc(x) + "</li>").join("") + "</ul>" : "") +
      kv([["Drill", r.id], ["Backup", r.backupId], ["Read from", r.from], ["Engine", r.engine], ["Started", r.startedAt], ["Finished", r.finishedAt]]) +
      "<h2>Phases</h2>" + table(["Phase", "Took", "Covers"], r.phases.map((p) => [p.name, dur(p.ms), p.covers])) +
      "<h2>Checks</h2>" + table(["Layer", "Check", "Result", "Detail"], r.checks.map((c) => [c.layer, c.name, c.status, c.detail])) +
      '<h2>Report</h2><iframe class="report" sandbox src="/dashboard/drills/' + encodeURIComponent(r.id) + '/report" title="drill report"></iframe>';
  };

  const get = async (url) => {
    const res = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || "HTTP " + res.status);
    return body;
  };
  const stamp = (text) => { document.getElementById("updated").textContent = text; };
  const fail = (err) => { stamp("update failed: " + err.message); if (page !== "overview") main.innerHTML = '<p class="error">' + esc(err.message) + "</p>"; };

  const tick = async () => {
    try {
      overview(await get("/api/overview"));
      stamp("updated " + new Date().toLocaleTimeString());
    } catch (err) { fail(err); }
    setTimeout(tick, POLL_MS);
  };
  if (page === "overview") tick();
  else if (page === "backup") get("/api/backups/" + encodeURIComponent(id)).then(backup, fail);
  else if (page === "drill") get("/api/drills/" + encodeURIComponent(id)).then(drill, fail);
})();
`;
