/**
 * Holdfast SQLite backup (online snapshot, zstd -3, age, two SHA-256) vs the shell pipeline
 * `sqlite3 db ".backup x" && zstd -3 -T0 x`, alternated on the same ≈ 1 GB database of random
 * text. Prints wall-time ratio and Holdfast's peak RSS.
 *   npx tsx bench/sqlite-backup.ts            (HOLDFAST_BENCH_MB=1024, HOLDFAST_BENCH_ROUNDS=3)
 * HOLDFAST_BENCH_DATASET=pgbench fills it with compressible pgbench-like rows instead of random text.
 */
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { measure, median } from "./measure.js";
import { recordResult } from "./result.js";

const sizeMb = Number(process.env.HOLDFAST_BENCH_MB ?? 1024);
const rounds = Number(process.env.HOLDFAST_BENCH_ROUNDS ?? 3);
const dir = process.env.HOLDFAST_BENCH_DIR ?? "/tmp/holdfast-bench";
const dataset = process.env.HOLDFAST_BENCH_DATASET === "pgbench" ? "pgbench" : "random";
const cli = resolve(import.meta.dirname, "../dist/cli/main.js");

async function makeDatabase(path: string): Promise<void> {
  if (await stat(path).then((s) => s.size > sizeMb * 0.9 * 1048576, () => false)) return;
  await rm(path, { force: true });
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT, n INTEGER, at TEXT)");
  const insert = db.prepare("INSERT INTO t (a, b, n, at) VALUES (?, ?, ?, ?)");
  const rows = Math.ceil((sizeMb * 1048576) / 140);
  // pgbench_accounts-like rows (a blank-padded filler, small numbers) compress ≈ 10:1 or better.
  const filler = " ".repeat(84);
  const row = dataset === "pgbench"
    ? (i: number) => [filler, String(i % 100), i, new Date(1.7e12).toISOString()]
    : (i: number) => [randomBytes(32).toString("hex"), randomBytes(16).toString("base64"), i, new Date(1.7e12 + i * 1000).toISOString()];
  const batch = db.transaction((n: number, base: number) => {
    for (let i = 0; i < n; i++) insert.run(...row(base + i));
  });
  for (let done = 0; done < rows; done += 100_000) batch(Math.min(100_000, rows - done), done);
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
}

async function main(): Promise<void> {
  await mkdir(dir, { recursive: true });
  const db = join(dir, `bench-${dataset === "pgbench" ? "pgbench-" : ""}${sizeMb}.db`);
  await makeDatabase(db);
  const dbBytes = (await stat(db)).size;
  const pass = join(dir, "pass.txt");
  await writeFile(pass, "benchmark passphrase\n", { mode: 0o600 });
  const repo = join(dir, "repo");
  await rm(repo, { recursive: true, force: true });
  const env = { ...process.env, HOLDFAST_REPO: repo, HOLDFAST_PASSPHRASE_FILE: pass, HOLDFAST_TMPDIR: dir, HOLDFAST_LOG_LEVEL: "warn" };
  await measure(process.execPath, [cli, "repo", "init"], env);
  const holdfast: number[] = [];
  const shell: number[] = [];
  let peak = 0;
  for (let r = 0; r < rounds; r++) {
    const h = await measure(process.execPath, [cli, "backup", `sqlite:${db}`], env);
    holdfast.push(h.wallMs);
    peak = Math.max(peak, h.peakRssMb);
    const copy = join(dir, "shell-copy.db");
    await rm(copy, { force: true });
    await rm(copy + ".zst", { force: true });
    const s = await measure("bash", ["-c", `sqlite3 '${db}' ".backup '${copy}'" && zstd -q -3 -T0 '${copy}' -o '${copy}.zst'`]);
    shell.push(s.wallMs);
    console.log(`round ${r + 1}: holdfast ${(h.wallMs / 1000).toFixed(2)} s (${h.peakRssMb.toFixed(0)} MB), shell ${(s.wallMs / 1000).toFixed(2)} s`);
  }
  const hm = median(holdfast);
  const sm = median(shell);
  console.log(`database ${(dbBytes / 1048576).toFixed(0)} MB, ${rounds} rounds, medians: holdfast ${(hm / 1000).toFixed(2)} s, shell ${(sm / 1000).toFixed(2)} s`);
  console.log(`holdfast/sqlite3+zstd wall ${(hm / sm).toFixed(2)}x, peak RSS ${peak.toFixed(0)} MB`);
  await recordResult({ bench: "sqlite-backup", operation: "backup", dataset, sizeMb: dbBytes / 1048576, holdfast: { seconds: hm / 1000, peakRssMb: peak }, peers: { "sqlite3 .backup + zstd -3 -T0": { seconds: sm / 1000 } } });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
