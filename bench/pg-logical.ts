/**
 * PostgreSQL logical backup benchmark: Holdfast vs the stock tools, alternating, on two datasets
 * (pgbench data compresses ~100:1 and hides costs; random md5 text compresses ~2:1).
 *
 *   npx tsx bench/pg-logical.ts
 *   BENCH_PGBENCH_SCALE=50 BENCH_RANDOM_ROWS=8000000 BENCH_ROUNDS=2 npx tsx bench/pg-logical.ts
 *
 * Peak RSS is measured with GNU time (%M) on the holdfast (node) process and on the tools.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { recordResult } from "./result.js";
import { startCluster, type PgCluster } from "../test/support/pg-cluster.js";

const SCALE = Number(process.env.BENCH_PGBENCH_SCALE ?? 50);
const RANDOM_ROWS = Number(process.env.BENCH_RANDOM_ROWS ?? 8_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
// A private build: other work rebuilding dist/ must not change the CLI under a long benchmark.
// BENCH_CLI: an already built CLI to measure instead (e.g. another revision's dist/cli/main.js).
const BUILD = resolve(import.meta.dirname, "../.bench-dist");
const CLI = process.env.BENCH_CLI ? resolve(process.env.BENCH_CLI) : join(BUILD, "cli/main.js");

interface Measured {
  seconds: number;
  peakRssMb: number;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Measured> {
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn("/usr/bin/time", ["-f", "RSSKB=%M", cmd, ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(" ")} failed (${code}): ${stderr.slice(-2000)}`));
      const rss = [...stderr.matchAll(/RSSKB=(\d+)/g)].map((m) => Number(m[1]));
      resolvePromise({ seconds, peakRssMb: Math.max(...rss) / 1024 });
    });
  });
}

async function prepareData(pg: PgCluster): Promise<void> {
  await pg.query("CREATE DATABASE pgb");
  console.error(`loading pgbench scale ${SCALE} …`);
  const init = await pg.runAsOwner(join(pg.binDir, "pgbench"), ["-i", "-q", "-s", String(SCALE), "-h", pg.socketDir, "-p", String(pg.port), "pgb"]);
  if (init.code !== 0) throw new Error(init.stderr);
  await pg.query("CREATE DATABASE rnd");
  console.error(`loading ${RANDOM_ROWS} random rows …`);
  await pg.query(
    `CREATE TABLE random_text (a text, b text, n bigint, at timestamptz);
     INSERT INTO random_text SELECT md5(random()::text), md5(random()::text), (random() * 9e18)::bigint, now() - random() * interval '1000 days'
     FROM generate_series(1, ${RANDOM_ROWS})`,
    "rnd",
  );
  await pg.query("VACUUM ANALYZE random_text", "rnd");
}

interface Row {
  dataset: string;
  sizeMb: number;
  holdfast: Measured;
  pgDumpFc: Measured;
  zstdPipe: Measured;
  hfRestore: Measured;
  pgRestore: Measured;
  hfBytes: number;
  fcBytes: number;
  zstdBytes: number;
  /** Directory format, --jobs 1 and --jobs 4: backup and restore (restore with the same --jobs). */
  dir: { jobs: number; backup: Measured; restore: Measured }[];
}

async function main(): Promise<void> {
  if (!process.env.BENCH_CLI) execFileSync("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", BUILD], { cwd: resolve(import.meta.dirname, ".."), stdio: "inherit" });
  // No autovacuum: it would vacuum and analyze each freshly restored database on the same two cores
  // as the tool timed next.
  const pg = await startCluster({ conf: { shared_buffers: "256MB", max_wal_size: "4GB", checkpoint_timeout: "30min", autovacuum: "off" } });
  const work = await mkdtemp(join(tmpdir(), "holdfast-bench-"));
  try {
    await prepareData(pg);
    const bin = pg.binDir;
    const passphrase = join(work, "pass");
    await writeFile(passphrase, "bench passphrase\n", { mode: 0o600 });
    const repo = join(work, "repo");
    const env = { ...process.env, HOLDFAST_REPO: repo, HOLDFAST_PASSPHRASE_FILE: passphrase, HOLDFAST_TMPDIR: work, HOLDFAST_LOG_LEVEL: "warn" };
    execFileSync(process.execPath, [CLI, "repo", "init", repo, "--encryption", "age", "--scrypt-work-factor", "10"], { env });
    const pgEnv = { ...process.env, PGHOST: pg.socketDir, PGPORT: String(pg.port), PGUSER: pg.superuser };
    const rows: Row[] = [];
    for (const db of ["pgb", "rnd"]) {
      const sizeMb = Number((await pg.query<{ s: string }>(`SELECT pg_database_size('${db}')::text AS s`))[0]!.s) / 2 ** 20;
      const acc: Row[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const fc = join(work, `${db}.fc`);
        const z = join(work, `${db}.z0.zst`);
        console.error(`[${db} round ${round + 1}] holdfast backup`);
        const holdfast = await timed(process.execPath, [CLI, "backup", pg.url(db), "--json"], env);
        const manifest = JSON.parse(execFileSync(process.execPath, [CLI, "show", "latest", "--source", pg.url(db), "--json"], { env }).toString());
        console.error(`[${db} round ${round + 1}] pg_dump -Fc`);
        const pgDumpFc = await timed(join(bin, "pg_dump"), ["-Fc", "-f", fc, db], pgEnv);
        console.error(`[${db} round ${round + 1}] pg_dump -Fc -Z0 | zstd -3 -T0`);
        const zstdPipe = await timed("/bin/sh", ["-c", `"${join(bin, "pg_dump")}" -Fc -Z0 ${db} | zstd -q -3 -T0 > "${z}"`], pgEnv);
        console.error(`[${db} round ${round + 1}] holdfast restore --jobs 2`);
        const hfRestore = await timed(process.execPath, [CLI, "restore", manifest.id, "--to", pg.url(`${db}_hf`), "--jobs", "2"], env);
        await pg.query(`CREATE DATABASE ${db}_pr`);
        console.error(`[${db} round ${round + 1}] pg_restore -j 2`);
        const pgRestore = await timed(join(bin, "pg_restore"), ["-j", "2", "-d", `${db}_pr`, fc], pgEnv);
        await pg.query(`DROP DATABASE ${db}_hf`);
        await pg.query(`DROP DATABASE ${db}_pr`);
        const dir: Row["dir"] = [];
        for (const jobs of [1, 4]) {
          console.error(`[${db} round ${round + 1}] holdfast backup --format directory --jobs ${jobs}`);
          const dirBackup = await timed(process.execPath, [CLI, "backup", pg.url(db), "--format", "directory", "--jobs", String(jobs)], env);
          const id = JSON.parse(execFileSync(process.execPath, [CLI, "show", "latest", "--source", pg.url(db), "--json"], { env }).toString()).id;
          console.error(`[${db} round ${round + 1}] holdfast restore (directory) --jobs ${jobs}`);
          const dirRestore = await timed(process.execPath, [CLI, "restore", id, "--to", pg.url(`${db}_dir`), "--jobs", String(jobs)], env);
          await pg.query(`DROP DATABASE ${db}_dir`);
          dir.push({ jobs, backup: dirBackup, restore: dirRestore });
        }
        acc.push({
          dataset: db,
          sizeMb,
          holdfast,
          pgDumpFc,
          zstdPipe,
          hfRestore,
          pgRestore,
          hfBytes: manifest.files.reduce((s: number, f: { storedBytes: number }) => s + f.storedBytes, 0),
          fcBytes: (await stat(fc)).size,
          zstdBytes: (await stat(z)).size,
          dir,
        });
      }
      rows.push(...acc);
    }
    report(rows);
    await record(rows);
  } finally {
    await pg.destroy();
    await rm(work, { recursive: true, force: true });
    await rm(BUILD, { recursive: true, force: true });
  }
}

/** One record per dataset and operation for bench/all.ts. */
async function record(rows: Row[]): Promise<void> {
  for (const r of rows) {
    const dataset = r.dataset === "pgb" ? "pgbench" : "random";
    const one = r.dir.find((d) => d.jobs === 1);
    await recordResult({ bench: "pg-logical", operation: "backup", dataset, sizeMb: r.sizeMb, holdfast: seconds(r.holdfast), peers: { "pg_dump -Fc": seconds(r.pgDumpFc), "pg_dump -Fc -Z0 | zstd -3 -T0": seconds(r.zstdPipe) } });
    await recordResult({ bench: "pg-logical", operation: "restore", dataset, sizeMb: r.sizeMb, holdfast: seconds(r.hfRestore), peers: { "pg_restore -j 2": seconds(r.pgRestore) } });
    if (one) await recordResult({ bench: "pg-logical", operation: "backup --format directory --jobs 1", dataset, sizeMb: r.sizeMb, holdfast: seconds(one.backup), peers: { "pg_dump -Fc": seconds(r.pgDumpFc) } });
  }
}

const seconds = (m: Measured) => ({ seconds: m.seconds, peakRssMb: m.peakRssMb });

function report(rows: Row[]): void {
  const f = (n: number) => n.toFixed(2);
  console.log(`\nPostgreSQL logical benchmark (pgbench scale ${SCALE}, ${RANDOM_ROWS} random rows, ${ROUNDS} round(s), ${process.platform} ${process.arch})`);
  console.log("dataset  dbMB   hf_backup_s  pg_dump_Fc_s  zstd_pipe_s  r_vs_Fc  r_vs_pipe  hf_restore_s  pg_restore_s  r_restore  hfRSS_MB(b/r)  size_hf/Fc");
  for (const r of rows) {
    console.log(
      [
        r.dataset.padEnd(7),
        r.sizeMb.toFixed(0).padStart(5),
        f(r.holdfast.seconds).padStart(11),
        f(r.pgDumpFc.seconds).padStart(13),
        f(r.zstdPipe.seconds).padStart(12),
        f(r.holdfast.seconds / r.pgDumpFc.seconds).padStart(8),
        f(r.holdfast.seconds / r.zstdPipe.seconds).padStart(10),
        f(r.hfRestore.seconds).padStart(13),
        f(r.pgRestore.seconds).padStart(13),
        f(r.hfRestore.seconds / r.pgRestore.seconds).padStart(10),
        `${r.holdfast.peakRssMb.toFixed(0)}/${r.hfRestore.peakRssMb.toFixed(0)}`.padStart(14),
        f(r.hfBytes / r.fcBytes).padStart(11),
      ].join(" "),
    );
  }
  for (const r of rows) {
    const [one, four] = r.dir;
    if (!one || !four) continue;
    console.log(
      `${r.dataset} directory format: backup --jobs 1 ${f(one.backup.seconds)} s, --jobs 4 ${f(four.backup.seconds)} s (${f(four.backup.seconds / one.backup.seconds)}x); ` +
        `restore --jobs 1 ${f(one.restore.seconds)} s, --jobs 4 ${f(four.restore.seconds)} s (${f(four.restore.seconds / one.restore.seconds)}x)`,
    );
  }
  console.log("targets: r_vs_Fc ≤ 0.35 (random set), r_vs_pipe ≤ 1.15, r_restore ≤ 1.10, peak RSS ≤ 150 MB");
}

await main();
