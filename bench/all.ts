/**
 * Every peer comparison in one command, on the two datasets (compressible pgbench data and ≈ 2:1
 * random text) at each size, with one table of ratios and peak RSS at the end:
 *   npm run bench -- --sizes 0.25,0.5,1,2     (GB; the default) [--only sqlite-backup,pg-logical,pitr,wal]
 *                    [--wal-segments 48] [--rpo-rounds 3]
 * Each script runs as its own process with its size in the environment and appends its figures to
 * a file (bench/result.ts); this one writes them to bench/results/<date>.json and draws
 * bench/results/<date>.svg (time against size per tool, Holdfast's peak RSS against size).
 * A failing script is reported in the table and the JSON; the others still run.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BenchRecord } from "./result.js";
import { svgChart, type Panel } from "./svg-chart.js";

const HERE = import.meta.dirname;
const CLI = resolve(HERE, "../dist/cli/main.js");
const DATASETS = ["pgbench", "random"] as const;
/** pgbench -i: ≈ 15 MiB of database per scale unit. */
const MB_PER_SCALE = 15;
/** pg-logical's random_text rows (two md5 texts, a bigint, a timestamp): ≈ 9,000 a MiB. */
const ROWS_PER_MB = 9000;

interface Run {
  bench: string;
  dataset: string;
  sizeGb: number;
  env: Record<string, string>;
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const sizes = (option("sizes") ?? "0.25,0.5,1,2").split(",").map(Number);
if (sizes.some((s) => !(s > 0))) throw new Error(`--sizes expects GB numbers such as 0.25,0.5, got "${option("sizes")}"`);
const only = option("only")?.split(",");
const walSegments = Number(option("wal-segments") ?? 48);
const rpoRounds = Number(option("rpo-rounds") ?? 3);

/** What to run: each script at each size and dataset it supports. */
function plan(): Run[] {
  const runs: Run[] = [];
  for (const sizeGb of sizes) {
    const mb = Math.max(1, Math.round(sizeGb * 1024));
    const scale = String(Math.max(1, Math.round(mb / MB_PER_SCALE)));
    for (const dataset of DATASETS) {
      runs.push({ bench: "sqlite-backup", dataset, sizeGb, env: { HOLDFAST_BENCH_MB: String(mb), HOLDFAST_BENCH_DATASET: dataset, HOLDFAST_BENCH_ROUNDS: "1" } });
      const physical = dataset === "pgbench" ? { PITR_BENCH_SCALE: scale, PITR_BENCH_TEXT_MB: "0" } : { PITR_BENCH_SCALE: "1", PITR_BENCH_TEXT_MB: String(mb) };
      runs.push({ bench: "pitr", dataset, sizeGb, env: { ...physical, PITR_BENCH_DATASET: dataset, PITR_BENCH_SEGMENTS: "4" } });
    }
    runs.push({ bench: "upgrade", dataset: "pgbench", sizeGb, env: { BENCH_PGBENCH_SCALE: scale } });
    // pg-logical loads both datasets into one cluster itself.
    runs.push({ bench: "pg-logical", dataset: "both", sizeGb, env: { BENCH_PGBENCH_SCALE: scale, BENCH_RANDOM_ROWS: String(mb * ROWS_PER_MB), BENCH_CLI: CLI } });
  }
  // WAL segments are 16 MiB whatever the database size: one run.
  runs.push({ bench: "wal", dataset: "random", sizeGb: 0, env: { WAL_BENCH_SEGMENTS: String(walSegments), WAL_BENCH_RECOVERY_SEGMENTS: String(walSegments) } });
  // RPO does not depend on the size: streaming vs archive_command, one run.
  runs.push({ bench: "pitr-rpo", dataset: "writer", sizeGb: 0, env: { PITR_RPO_ROUNDS: String(rpoRounds) } });
  return runs.filter((r) => !only || only.includes(r.bench));
}

function runScript(run: Run, resultFile: string, scratch: string): Promise<{ code: number; tail: string }> {
  return new Promise((res, rej) => {
    const env = { ...process.env, ...run.env, HOLDFAST_BENCH_RESULT: resultFile, HOLDFAST_BENCH_DIR: scratch };
    const child = spawn(process.execPath, ["--import", "tsx", join(HERE, `${run.bench}.ts`)], { env, stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    const keep = (d: Buffer) => {
      process.stdout.write(d);
      tail = (tail + d.toString()).slice(-2000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", rej);
    child.on("close", (code) => res({ code: code ?? 1, tail }));
  });
}

interface Row extends BenchRecord {
  sizeGb: number;
}

function table(rows: Row[], failures: { bench: string; dataset: string; sizeGb: number; error: string }[]): string {
  const header = ["bench", "operation", "dataset", "size MiB", "holdfast s", "peer", "peer s", "ratio", "hf RSS MiB", "peer RSS MiB"];
  const lines = rows.flatMap((r) =>
    Object.entries(r.peers).map(([peer, t]) => [
      r.bench, r.operation, r.dataset, r.sizeMb.toFixed(0), r.holdfast.seconds.toFixed(2), peer, t.seconds.toFixed(2),
      (r.holdfast.seconds / t.seconds).toFixed(2), r.holdfast.peakRssMb?.toFixed(0) ?? "-", t.peakRssMb?.toFixed(0) ?? "-",
    ]),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [fmt(header), ...lines.map(fmt), ...failures.map((f) => `FAILED ${f.bench} (${f.dataset}, ${f.sizeGb} GB): ${f.error}`)].join("\n");
}

/** One time panel per operation and dataset (Holdfast and each peer), one RSS panel per operation. */
function panels(rows: Row[]): Panel[] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) groups.set(`${r.bench}: ${r.operation} (${r.dataset})`, [...(groups.get(`${r.bench}: ${r.operation} (${r.dataset})`) ?? []), r]);
  const out: Panel[] = [];
  for (const [title, rs] of groups) {
    const names = ["holdfast", ...new Set(rs.flatMap((r) => Object.keys(r.peers)))];
    const series = names.map((name) => ({ name, points: rs.flatMap((r) => { const t = name === "holdfast" ? r.holdfast : r.peers[name]; return t ? [[r.sizeMb, t.seconds] as [number, number]] : []; }) }));
    out.push({ title, xLabel: "data size (MiB)", yLabel: "seconds", series });
  }
  const byOperation = new Map<string, Row[]>();
  for (const r of rows) if (r.holdfast.peakRssMb !== undefined) byOperation.set(`${r.bench}: ${r.operation}`, [...(byOperation.get(`${r.bench}: ${r.operation}`) ?? []), r]);
  for (const [op, rs] of byOperation) {
    const datasets = [...new Set(rs.map((r) => r.dataset))];
    out.push({ title: `${op}: Holdfast peak RSS`, xLabel: "data size (MiB)", yLabel: "MiB", series: datasets.map((d) => ({ name: `holdfast (${d})`, points: rs.filter((r) => r.dataset === d).map((r) => [r.sizeMb, r.holdfast.peakRssMb!] as [number, number]) })) });
  }
  return out;
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), "holdfast-bench-all-"));
  const rows: Row[] = [];
  const failures: { bench: string; dataset: string; sizeGb: number; error: string }[] = [];
  const started = new Date();
  try {
    for (const run of plan()) {
      console.log(`\n=== ${run.bench} (${run.dataset}${run.sizeGb ? `, ${run.sizeGb} GB` : ""}) ===`);
      const resultFile = join(scratch, "result.jsonl");
      await writeFile(resultFile, "", { mode: 0o600 });
      const work = join(scratch, "work");
      await mkdir(work, { recursive: true, mode: 0o700 });
      const { code, tail } = await runScript(run, resultFile, work);
      await rm(work, { recursive: true, force: true });
      const records = (await readFile(resultFile, "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as BenchRecord);
      rows.push(...records.map((r) => ({ ...r, sizeGb: run.sizeGb })));
      if (code !== 0 || records.length === 0) failures.push({ bench: run.bench, dataset: run.dataset, sizeGb: run.sizeGb, error: `exit ${code}${records.length ? "" : ", no figures"}: ${tail.trim().split("\n").pop()}` });
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  console.log(`\n${table(rows, failures)}`);
  const dir = join(HERE, "results");
  await mkdir(dir, { recursive: true });
  const stamp = started.toISOString().slice(0, 19).replace(/:/g, "-");
  const machine = { cpus: cpus().length, model: cpus()[0]?.model, loadAverage: loadavg(), node: process.version };
  await writeFile(join(dir, `${stamp}.json`), JSON.stringify({ started: started.toISOString(), finished: new Date().toISOString(), sizesGb: sizes, machine, results: rows, failures }, null, 2) + "\n");
  await writeFile(join(dir, `${stamp}.svg`), svgChart(`Holdfast vs peers, ${started.toISOString().slice(0, 10)} (${machine.cpus} cores, sizes ${sizes.join(", ")} GB)`, panels(rows)));
  console.log(`\nwrote bench/results/${stamp}.json and .svg`);
  if (failures.length) process.exitCode = 1;
}

await main();
