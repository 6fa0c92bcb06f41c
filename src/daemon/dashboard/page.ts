export type PageKind = "overview" | "backup" | "drill";

const esc = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const TITLES: Record<PageKind, string> = { overview: "Holdfast: databases", backup: "Holdfast: backup", drill: "Holdfast: drill" };

/**
 * The HTML shell of a dashboard page: the script (app.js) fills <main> from the JSON API and keeps
 * it current. The only value put into it, the id from the path, is escaped.
 */
export function pageHtml(kind: PageKind, id?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(TITLES[kind])}${id ? ` ${esc(id)}` : ""}</title>
<link rel="stylesheet" href="/dashboard/style.css">
<script src="/dashboard/app.js" defer></script>
</head><body data-page="${kind}" data-id="${esc(id ?? "")}">
<header><a href="/dashboard" class="brand">Holdfast</a><span id="repository"></span><span id="updated" class="muted"></span></header>
<main id="main"><p class="muted">Loading…</p></main>
</body></html>
`;
}

export const PAGE_STYLE = `
:root{--ok:#2e7d32;--bad:#c62828;--warn:#ef6c00;--muted:#666;--line:#ddd}
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{display:flex;gap:1rem;align-items:baseline;padding:.7rem 1.5rem;background:#263238;color:#fff}
header a.brand{color:#fff;font-weight:700;text-decoration:none;font-size:1.1rem}
header .muted{color:#b0bec5;margin-left:auto}
main{padding:1rem 1.5rem}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}
.muted{color:var(--muted)}
table{border-collapse:collapse;width:100%;background:#fff}
td,th{border-bottom:1px solid var(--line);padding:.4rem .5rem;text-align:left;vertical-align:top}
th{color:#555;font-weight:600;background:#f1f3f4}
td.n{text-align:right;white-space:nowrap}
tr.db td:first-child{border-left:6px solid var(--ok)}
tr.db.warn{background:#fff3e0}tr.db.warn td:first-child{border-left-color:var(--warn)}
tr.db.bad{background:#ffebee}tr.db.bad td:first-child{border-left-color:var(--bad)}
span.ok{color:var(--ok);font-weight:600}span.failed,li.failed{color:var(--bad);font-weight:600}span.late{color:var(--warn);font-weight:600}
td.trend{white-space:nowrap}
.problem{color:var(--bad);font-size:12px}
svg.trend{vertical-align:middle}svg.trend polyline{fill:none;stroke:#1565c0;stroke-width:1.5}svg.trend circle{fill:#1565c0}
dl.kv{display:grid;grid-template-columns:12rem 1fr;gap:.2rem 1rem;background:#fff;padding:.8rem;border:1px solid var(--line)}
dl.kv dt{color:#555;font-weight:600}dl.kv dd{margin:0;word-break:break-all}
iframe.report{width:100%;height:70vh;border:1px solid var(--line);background:#fff}
.verdict{display:inline-block;padding:.1rem .6rem;border-radius:4px;color:#fff;font-weight:700}
.verdict.PASS{background:var(--ok)}.verdict.FAIL{background:var(--bad)}.verdict.INCONCLUSIVE{background:var(--warn)}
.error{color:var(--bad)}
`;
