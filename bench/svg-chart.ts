/**
 * A small SVG line-chart writer (no dependency): panels in a grid, each with its own axes, one
 * polyline and dots per series, and a legend. Enough to see whether cost grows linearly with size
 * and memory stays flat.
 */
export interface Series {
  name: string;
  points: [number, number][];
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

const W = 420;
const H = 300;
const PAD = { left: 56, right: 24, top: 28, bottom: 96 };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const num = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2));

/** Round a maximum up to 1, 2 or 5 × a power of ten, so tick labels read well. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}

function panel(p: Panel, x0: number, y0: number): string {
  const all = p.series.flatMap((s) => s.points);
  const xMax = niceMax(Math.max(...all.map(([x]) => x)));
  const yMax = niceMax(Math.max(...all.map(([, y]) => y)));
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const sx = (x: number) => x0 + PAD.left + (x / xMax) * pw;
  const sy = (y: number) => y0 + PAD.top + ph - (y / yMax) * ph;
  const out = [`<text x="${x0 + W / 2}" y="${y0 + 16}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`];
  out.push(`<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(xMax)}" y2="${sy(0)}" stroke="#333"/>`, `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(0)}" y2="${sy(yMax)}" stroke="#333"/>`);
  for (let i = 0; i <= 4; i++) {
    const x = (xMax * i) / 4;
    const y = (yMax * i) / 4;
    out.push(`<text x="${sx(x)}" y="${sy(0) + 14}" text-anchor="middle" font-size="10">${num(x)}</text>`);
    out.push(`<text x="${sx(0) - 4}" y="${sy(y) + 3}" text-anchor="end" font-size="10">${num(y)}</text>`);
    if (i > 0) out.push(`<line x1="${sx(0)}" y1="${sy(y)}" x2="${sx(xMax)}" y2="${sy(y)}" stroke="#ddd"/>`);
  }
  out.push(`<text x="${sx(xMax / 2)}" y="${sy(0) + 28}" text-anchor="middle" font-size="11">${esc(p.xLabel)}</text>`);
  out.push(`<text transform="translate(${x0 + 12} ${sy(yMax / 2)}) rotate(-90)" text-anchor="middle" font-size="11">${esc(p.yLabel)}</text>`);
  p.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")}"/>`);
    for (const [x, y] of pts) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${colour}"><title>${esc(`${s.name}: ${num(y)} at ${num(x)}`)}</title></circle>`);
    const ly = sy(0) + 42 + i * 13;
    out.push(`<rect x="${x0 + PAD.left}" y="${ly - 8}" width="10" height="3" fill="${colour}"/>`, `<text x="${x0 + PAD.left + 14}" y="${ly}" font-size="10">${esc(s.name)}</text>`);
  });
  return out.join("\n");
}

/** The whole chart: panels left to right, `columns` a row. */
export function svgChart(title: string, panels: Panel[], columns = 3): string {
  const rows = Math.max(1, Math.ceil(panels.length / columns));
  const width = W * Math.min(columns, Math.max(1, panels.length));
  const height = rows * H + 30;
  const body = panels.map((p, i) => panel(p, (i % columns) * W, 30 + Math.floor(i / columns) * H)).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="8" y="20" font-size="14" font-weight="bold">${esc(title)}</text>
${body}
</svg>
`;
}
