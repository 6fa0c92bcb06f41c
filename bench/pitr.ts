/**
 * Physical backups and WAL archiving: Holdfast vs pg_basebackup (server-side zstd) vs pgBackRest.
 *   npx tsx bench/pitr.ts
 * Sizes (defaults are the issue's ≈ 2 GB cluster and 200 segments; smaller runs are labelled):
 *   PITR_BENCH_SCALE=50  PITR_BENCH_TEXT_MB=1024  PITR_BENCH_SEGMENTS=200  PITR_BENCH_PGBACKREST=1
 * Prints `name: value` lines, `ratio` lines and peak RSS (from /usr/bin/time) for every process.
 * Restore is compared like for like: files in place (Holdfast's unpack and checks; pgbackrest restore)
 * apart from recovery + promotion + stop (Holdfast through its WAL fetch service; pgBackRest's
 * restored directory started with its own archive-get), each with its own ratio.
 */
import { readdir, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { startCluster, type PgCluster } from "../test/support/pg-cluster.js";
import { switchAndWaitArchived } from "../test/support/pitr.js";
import { benchRepository, line, ownedDir, pgbackrest, timed, type Timed } from "./pg-tools.js";
import { recordResult, type Timing } from "./result.js";

const CLI = resolve(import.meta.dirname, "../dist/cli/main.js");
const SCALE = Number(process.env.PITR_BENCH_SCALE ?? 50);
const TEXT_MB = Number(process.env.PITR_BENCH_TEXT_MB ?? 1024);
const SEGMENTS = Number(process.env.PITR_BENCH_SEGMENTS ?? 200);
const WITH_PGBACKREST = process.env.PITR_BENCH_PGBACKREST !== "0";
/** The label bench/all.ts gives the data (pgbench alone, or mostly random text). */
const DATASET = process.env.PITR_BENCH_DATASET ?? "pgbench+random";
const timing = (t: Timed): Timing => ({ seconds: t.seconds, peakRssMb: t.rssMb });

async function fill(c: PgCluster): Promise<void> {
  await timed([join(c.binDir, "pgbench"), "-h", c.socketDir, "-p", String(c.port), "-U", c.superuser, "-i", "-q", "-s", String(SCALE), "postgres"], { asPostgres: true });
  const rows = Math.round((TEXT_MB * 1024 * 1024) / 1000);
  await c.query(`CREATE TABLE text_blob AS SELECT g AS id, (SELECT string_agg(md5(random()::text || i), '') FROM generate_series(1, 31) i WHERE g > 0) AS body FROM generate_series(1, ${rows}) g`);
  await c.query("CHECKPOINT");
}

async function main(): Promise<void> {
  const { base, work, repo, env } = await benchRepository("holdfast-bench-pitr-", CLI);
  const archive = `'"${process.execPath}" "${CLI}" wal-push "%p" --repo "${repo}"'`;
  const cluster = await startCluster({ conf: { wal_level: "replica", archive_mode: "on", archive_command: archive, max_wal_senders: "4", shared_buffers: "256MB", max_wal_size: "4GB" } });
  const label = SCALE === 50 && TEXT_MB === 1024 ? "" : " (SMALLER THAN THE ISSUE'S 2 GB: set by env)";
  try {
    console.log(`dataset: pgbench scale ${SCALE} + ${TEXT_MB} MiB random text${label}`);
    await fill(cluster);
    const [size] = await cluster.query<{ s: string; b: string }>("SELECT pg_size_pretty(sum(pg_database_size(oid))) AS s, sum(pg_database_size(oid))::text AS b FROM pg_database");
    console.log(`cluster size: ${size!.s}`);
    const sizeMb = Number(size!.b) / 1048576;
    const backupPeers: Record<string, Timing> = {};
    // Loading made gigabytes of WAL: let the archiver catch up first, or every tool that waits for
    // archiving (pg_basebackup -X none inside holdfast, pgBackRest's backup stop) pays for the backlog.
    const tc = Date.now();
    await switchAndWaitArchived((sql) => cluster.query(sql), 3_600_000);
    console.log(`archive catch-up after loading (holdfast wal-push as archive_command): ${((Date.now() - tc) / 1000).toFixed(1)} s`);

    const hf = await timed(["node", CLI, "backup", "--type", "physical", cluster.url()], { env });
    line("holdfast backup --type physical (zstd-3 + age)", hf);
    const pgb = await timed([join(cluster.binDir, "pg_basebackup"), "-h", cluster.socketDir, "-p", String(cluster.port), "-U", cluster.superuser, "-D", await ownedDir(base, "pgbb"), "-Ft", "--compress=server-zstd:level=3,workers=2", "-c", "fast"], { asPostgres: true });
    line("pg_basebackup -Ft server-zstd:3 workers=2", pgb);
    console.log(`ratio holdfast/pg_basebackup backup: ${(hf.seconds / pgb.seconds).toFixed(2)} (target ≤ 1.2)`);
    backupPeers["pg_basebackup server-zstd:3"] = timing(pgb);
    let brLz4: Timed | undefined;
    if (WITH_PGBACKREST) {
      for (const compress of ["lz4", "zst"]) {
        const br = await pgbackrest(base, cluster, "bench", compress);
        // pgBackRest's restore recovers from its own archive: from here on WAL goes to both.
        if (compress === "zst") await archiveToBoth(cluster, archive, br.conf);
        const t = await timed(["pgbackrest", `--config=${br.conf}`, "--stanza=bench", "--type=full", "backup"], { asPostgres: true });
        line(`pgbackrest backup --type=full ${compress} process-max=2`, t);
        console.log(`ratio holdfast/pgbackrest-${compress} backup: ${(hf.seconds / t.seconds).toFixed(2)}${compress === "lz4" ? " (target ≤ 1.0)" : ""}`);
        if (compress === "lz4") brLz4 = t;
        backupPeers[`pgbackrest ${compress}`] = timing(t);
        if (compress === "zst") {
          const target = await ownedDir(base, "pgbr-restored");
          const r = await timed(["pgbackrest", `--config=${br.conf}`, "--stanza=bench", `--pg1-path=${target}`, "restore"], { asPostgres: true });
          line("pgbackrest restore (files in place + recovery settings)", r);
          const { seconds: brRecovery, segments } = await recoverInPlace(cluster, target);
          console.log(`pgbackrest recovery (pg_ctl start, archive-get ${segments} segments, replay, promote, stop): ${brRecovery.toFixed(2)} s`);
          await rm(target, { recursive: true, force: true });
          // With the exported identity file, as automation would run it: no scrypt in the time or the peak RSS.
          const identity = join(work, "identity.txt");
          await timed(["node", CLI, "key", "export", "--out", identity], { env });
          const hr = await timed(["node", CLI, "restore", "--type", "physical", "--to", join(work, "restored"), "--json"], { env: { ...Object.fromEntries(Object.entries(env).filter(([k]) => k !== "HOLDFAST_PASSPHRASE_FILE")), HOLDFAST_IDENTITY_FILE: identity } });
          const result = JSON.parse(hr.out.slice(0, hr.out.lastIndexOf("@@TIME")));
          line("holdfast restore --type physical --identity-file (unpack + PostgreSQL recovery + promote + stop)", hr, `, ${result.walFetch.fetched} segments fetched, recovery log ${result.serverLog}`);
          const split = result.seconds as { unpack: number; recovery: number };
          console.log(`holdfast restore split: files in place ${split.unpack.toFixed(2)} s, recovery + promote + stop ${split.recovery.toFixed(2)} s`);
          console.log(`ratio holdfast/pgbackrest restore, files in place: ${(split.unpack / r.seconds).toFixed(2)} (target ≤ 1.2)`);
          console.log(`ratio holdfast/pgbackrest restore, recovery + promotion: ${(split.recovery / brRecovery).toFixed(2)} (target ≤ 1.2)`);
          console.log(`ratio holdfast/pgbackrest restore, whole: ${(hr.seconds / (r.seconds + brRecovery)).toFixed(2)}`);
          await recordResult({ bench: "pitr", operation: "physical restore", dataset: DATASET, sizeMb, holdfast: timing(hr), peers: { "pgbackrest restore + recovery": { seconds: r.seconds + brRecovery, peakRssMb: r.rssMb } } });
          await rm(join(work, "restored"), { recursive: true, force: true });
        }
      }
    }
    void brLz4;
    await recordResult({ bench: "pitr", operation: "physical backup", dataset: DATASET, sizeMb, holdfast: timing(hf), peers: backupPeers });
    await walPushBench(base, cluster, env);
  } finally {
    await cluster.destroy();
    await rm(base, { recursive: true, force: true });
  }
}

/** archive_command pushes each segment to Holdfast and to pgBackRest's archive; waits until the setting is live. */
async function archiveToBoth(c: PgCluster, holdfast: string, conf: string): Promise<void> {
  const both = `${holdfast.slice(1, -1)} && pgbackrest --config=${conf} --stanza=bench archive-push "%p"`;
  await c.query(`ALTER SYSTEM SET archive_command = '${both.replace(/'/g, "''")}'`);
  await c.query("SELECT pg_reload_conf()");
  await new Promise((r) => setTimeout(r, 1000));
}

/**
 * Start a restored directory on its own port and socket (archiving off), wait until it has replayed
 * the archive and promoted (the server log says it accepts connections; pg_ctl -w returns at
 * consistency already), then stop it: seconds from start to stopped (as Holdfast's recovery figure
 * counts them), and segments fetched.
 */
async function recoverInPlace(source: PgCluster, dir: string): Promise<{ seconds: number; segments: number }> {
  const port = source.port + 1000;
  const opts = `-p ${port} -k ${dir} -c listen_addresses='' -c archive_mode=off -c hot_standby=off`;
  const logFile = join(dir, "recovery.log");
  const t0 = Date.now();
  await timed([join(source.binDir, "pg_ctl"), "-D", dir, "-l", logFile, "-o", opts, "start"], { asPostgres: true });
  let log = "";
  while (!/database system is ready to accept connections/.test(log)) {
    if (Date.now() - t0 > 3_600_000 || /FATAL|PANIC/.test(log)) throw new Error(`pgBackRest's restore did not recover from its archive: ${log.slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 20));
    log = await readFile(logFile, "utf8").catch(() => "");
  }
  await timed([join(source.binDir, "pg_ctl"), "-D", dir, "-w", "-m", "fast", "stop"], { asPostgres: true });
  return { seconds: (Date.now() - t0) / 1000, segments: (log.match(/restored log file "[0-9A-F]{24}" from archive/g) ?? []).length };
}

/** 16 MiB segments of real WAL (inserts of random text), pushed one process per segment as PostgreSQL does. */
async function walPushBench(base: string, source: PgCluster, env: Record<string, string>): Promise<void> {
  const stash = await ownedDir(base, "wal-stash");
  await source.query(`ALTER SYSTEM SET archive_command = 'cp %p ${stash}/%f'`);
  await source.query("SELECT pg_reload_conf()");
  await new Promise((r) => setTimeout(r, 1000));
  const segs = async () => (await readdir(stash)).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
  await source.query("CREATE TABLE IF NOT EXISTS wal_gen (body text)");
  while ((await segs()).length < SEGMENTS) {
    await source.query("INSERT INTO wal_gen SELECT (SELECT string_agg(md5(random()::text || i), '') FROM generate_series(1, 8) i WHERE g > 0) FROM generate_series(1, 60000) g");
  }
  const files = (await segs()).slice(0, SEGMENTS);
  const label = SEGMENTS === 200 ? "" : ` (${SEGMENTS} segments: set by env)`;
  const pushEnv = { ...env, HOLDFAST_REPO: join(base, "wal-bench-repo") };
  await timed(["node", CLI, "repo", "init", pushEnv.HOLDFAST_REPO], { env: pushEnv });
  let peak = 0;
  const t0 = Date.now();
  for (const f of files) peak = Math.max(peak, (await timed(["node", CLI, "wal-push", join(stash, f)], { env: pushEnv })).rssMb);
  const fullRate = files.length / ((Date.now() - t0) / 1000);
  console.log(`holdfast wal-push (full CLI): ${fullRate.toFixed(2)} segments/s over ${files.length} × 16 MiB segments${label}, peak RSS ${peak.toFixed(0)} MiB`);
  await rm(join(pushEnv.HOLDFAST_REPO, "wal"), { recursive: true, force: true });
  const lean = join(resolve(import.meta.dirname, "../dist/cli"), "wal-push-main.js");
  peak = 0;
  const t2 = Date.now();
  for (const f of files) peak = Math.max(peak, (await timed(["node", lean, join(stash, f)], { env: pushEnv })).rssMb);
  const hfRate = files.length / ((Date.now() - t2) / 1000);
  console.log(`holdfast wal-push-main.js (lean archive_command): ${hfRate.toFixed(2)} segments/s, peak RSS ${peak.toFixed(0)} MiB`);
  const restoreDir = await ownedDir(base, "fetch-check");
  const tf = Date.now();
  for (const f of files.slice(0, Math.min(files.length, 32))) await timed(["node", CLI, "wal-fetch", f, join(restoreDir, "RECOVERYXLOG")], { env: pushEnv });
  console.log(`holdfast wal-fetch (scrypt 2^18 once per 9 segments thanks to prefetch 8): ${(Math.min(files.length, 32) / ((Date.now() - tf) / 1000)).toFixed(2)} segments/s`);
  if (!WITH_PGBACKREST) return;
  const br = await pgbackrest(base, source, "walbench", "zst");
  let brPeak = 0;
  const t1 = Date.now();
  for (const f of files) brPeak = Math.max(brPeak, (await timed(["pgbackrest", `--config=${br.conf}`, "--stanza=walbench", "archive-push", join(stash, f)], { asPostgres: true })).rssMb);
  const brRate = files.length / ((Date.now() - t1) / 1000);
  console.log(`pgbackrest archive-push (zst-3): ${brRate.toFixed(2)} segments/s, peak RSS ${brPeak.toFixed(0)} MiB`);
  console.log(`ratio holdfast/pgbackrest wal-push throughput: ${(hfRate / brRate).toFixed(2)} (higher is better)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
