/**
 * Backup of one SQLite database (random text) to a local folder vs to S3 (s3rver on loopback),
 * through the built CLI, in one run. Prints time ratio, upload throughput and peak RSS of each
 * CLI process (target ≤ 200 MB whatever the size).
 *
 *   npx tsc -p tsconfig.build.json && npx tsx bench/s3-backup.ts        # 1 GiB
 *   HOLDFAST_BENCH_MB=256 npx tsx bench/s3-backup.ts                    # smaller, labelled
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { runCli, startCli } from "../test/support/cli.js";
import { startS3 } from "../test/support/s3.js";

const targetMiB = Number(process.env.HOLDFAST_BENCH_MB ?? 1024);
const MiB = 1024 * 1024;

function createDatabase(path: string, bytes: number): void {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  const insert = db.prepare("INSERT INTO notes (body) VALUES (?)");
  const rows = Math.ceil(bytes / 1300);
  const batch = 20_000;
  for (let done = 0; done < rows; done += batch) {
    db.transaction(() => {
      for (let i = done; i < Math.min(rows, done + batch); i++) insert.run(randomBytes(768).toString("base64"));
    })();
  }
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
}

/** Run the CLI, sampling its peak RSS (VmHWM) from /proc until it exits. */
async function timedBackup(args: string[], env: Record<string, string>): Promise<{ ms: number; peakRssMiB: number; stdout: string }> {
  const started = performance.now();
  const child = startCli(args, { env });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  let peakKiB = 0;
  const sample = async () => {
    const status = await readFile(`/proc/${child.pid}/status`, "utf8").catch(() => "");
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
  };
  const timer = setInterval(() => void sample(), 50);
  const code = await new Promise<number>((r) => child.on("close", (c) => r(c ?? 1)));
  clearInterval(timer);
  if (code !== 0) throw new Error(`backup failed (${code}): ${stderr}`);
  return { ms: performance.now() - started, peakRssMiB: peakKiB / 1024, stdout };
}

const dir = await mkdtemp(join(tmpdir(), "holdfast-bench-s3-"));
const server = await startS3(["bench"]);
try {
  const db = join(dir, "bench.db");
  process.stdout.write(`creating a ${targetMiB} MiB SQLite database of random text…\n`);
  createDatabase(db, targetMiB * MiB);
  const dbBytes = (await stat(db)).size;
  await writeFile(join(dir, "pass.txt"), "bench passphrase\n", { mode: 0o600 });
  // Optional multipart tuning (memory ≈ part × (queue + 1)): HOLDFAST_BENCH_PART_MIB, HOLDFAST_BENCH_QUEUE.
  const part = process.env.HOLDFAST_BENCH_PART_MIB;
  const queue = process.env.HOLDFAST_BENCH_QUEUE;
  await writeFile(join(dir, "holdfast.yaml"), `s3:\n${part ? `  part_size_mib: ${part}\n` : ""}${queue ? `  queue_size: ${queue}\n` : ""}`.replace(/^s3:\n$/, ""));
  const base = { ...server.env, HOLDFAST_CONFIG: join(dir, "holdfast.yaml"), HOLDFAST_PASSPHRASE_FILE: join(dir, "pass.txt"), HOLDFAST_TMPDIR: dir, HOLDFAST_LOG_LEVEL: "warn" };
  const local = join(dir, "repo");
  const s3 = "s3://bench/repo";
  for (const repo of [local, s3]) {
    const r = await runCli(["repo", "init", repo, "--scrypt-work-factor", "10"], { env: { ...base, HOLDFAST_REPO: repo } });
    if (r.code !== 0) throw new Error(r.stderr);
  }
  const toLocal = await timedBackup(["backup", `sqlite:${db}`, "--json"], { ...base, HOLDFAST_REPO: local });
  const toS3 = await timedBackup(["backup", `sqlite:${db}`, "--json"], { ...base, HOLDFAST_REPO: s3 });
  const stored = (JSON.parse(toS3.stdout) as { files: { storedBytes: number }[] }).files.reduce((s, f) => s + f.storedBytes, 0);
  const label = targetMiB === 1024 ? "" : ` [${targetMiB} MiB database, not the 1 GiB target]`;
  process.stdout.write(`database: ${(dbBytes / MiB).toFixed(0)} MiB, stored ${(stored / MiB).toFixed(0)} MiB (zstd + age)${label}\n`);
  process.stdout.write(`backup to local folder: ${(toLocal.ms / 1000).toFixed(1)} s, ${(dbBytes / MiB / (toLocal.ms / 1000)).toFixed(0)} MB/s of database, peak RSS ${toLocal.peakRssMiB.toFixed(0)} MiB\n`);
  process.stdout.write(`backup to S3 (s3rver):  ${(toS3.ms / 1000).toFixed(1)} s, upload ${(stored / MiB / (toS3.ms / 1000)).toFixed(0)} MB/s stored, peak RSS ${toS3.peakRssMiB.toFixed(0)} MiB\n`);
  process.stdout.write(`s3-vs-local-backup-time: ${(toS3.ms / toLocal.ms).toFixed(2)}\n`);
  process.stdout.write(`s3-backup-peak-rss-mib: ${toS3.peakRssMiB.toFixed(0)} (target <= 200; part ${part ?? 8} MiB × queue ${queue ?? 4})\n`);
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
