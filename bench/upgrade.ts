/**
 * Application stalls during a schema upgrade: `holdfast upgrade --migrations` against the same chain
 * run by plain `psql -f`, each while pgbench runs against the database.
 *
 * The chain, on pgbench_accounts (pgbench -i -s 20 by default: 2,000,000 rows, builds in seconds):
 *   0001 ADD COLUMN status text NOT NULL DEFAULT 'active'   (a default: no rewrite, an ACCESS EXCLUSIVE lock)
 *   0002 CREATE INDEX CONCURRENTLY on (bid, status)          (no-transaction)
 *   0003 ADD COLUMN tier int
 *   0004 backfill tier in batches of 100,000 rows            (no-transaction: one commit a batch)
 * psql -f runs the same statements (autocommit: one transaction each), so the batches are the
 * same in both runs; what differs is Holdfast's lock_timeout (2 s) with retries.
 *
 * Both runs also have a competing reader, as a report query would: one transaction that reads
 * pgbench_accounts and stays open 8 s (BENCH_READER_MS), started as the migrations start (psql: with
 * it; holdfast: when its runner's row appears, after the backup). An ALTER TABLE queued behind it
 * makes every later query on the table wait — without a lock_timeout, for as long as the reader lasts.
 *
 * Each run gets a fresh copy of the loaded database (CREATE DATABASE … TEMPLATE). The stall is the
 * longest pgbench transaction latency (--log, per transaction) among transactions that overlapped
 * the upgrade; a baseline (pgbench and the reader, no upgrade) shows the machine's own noise.
 * `holdfast upgrade` runs with --no-row-check (pgbench writes to every table meanwhile) and takes
 * its usual verified logical backup first: its total time includes that backup.
 *
 *   npm run bench:upgrade        (BENCH_PGBENCH_SCALE=20, BENCH_CLIENTS=4)
 * Prints `name: value` lines.
 */
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, workspace, type Workspace } from "../test/support/cli.js";
import { startCluster, type PgCluster } from "../test/support/pg-cluster.js";
import { recordResult } from "./result.js";

const SCALE = Number(process.env.BENCH_PGBENCH_SCALE ?? 20);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const LOCK_TIMEOUT_MS = 2000;
const BATCH = 100_000;
const READER_MS = Number(process.env.BENCH_READER_MS ?? 8000);

const chain = (): Record<string, string> => {
  const batches = Array.from({ length: Math.ceil((SCALE * 100_000) / BATCH) }, (_, i) => `UPDATE pgbench_accounts SET tier = aid % 3 WHERE aid > ${i * BATCH} AND aid <= ${(i + 1) * BATCH};`);
  return {
    "0001_status.up.sql": "ALTER TABLE pgbench_accounts ADD COLUMN status text NOT NULL DEFAULT 'active';",
    "0002_status_index.up.sql": "-- holdfast:no-transaction\nCREATE INDEX CONCURRENTLY pgbench_accounts_bid_status ON pgbench_accounts (bid, status);",
    "0003_tier.up.sql": "ALTER TABLE pgbench_accounts ADD COLUMN tier int;",
    "0004_tier_backfill.up.sql": `-- holdfast:no-transaction\n${batches.join("\n")}`,
  };
};

interface Window {
  startMs: number;
  endMs: number;
}

/**
 * pgbench with a per-transaction log into logDir, until stopped. It is stopped by ending its
 * sessions server-side: its clients abort and it exits normally, its logs written out (a signal
 * would lose their buffered tail).
 */
function startPgbench(pg: PgCluster, db: string, logDir: string): { stop(): Promise<void> } {
  const child = spawn(join(pg.binDir, "pgbench"), ["-n", "-c", String(CLIENTS), "-j", "2", "-T", "3600", "--log", `--log-prefix=${join(logDir, "tx")}`, "-h", pg.socketDir, "-p", String(pg.port), "-U", pg.superuser, db], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<void>((r) => child.once("close", () => r()));
  return {
    async stop() {
      await pg.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = '${db}'`);
      await closed;
      // Its clients abort by design here; a pgbench that failed otherwise logged nothing (longestStall says so).
      if (/error: (?!client \d+ .*aborted|Run was aborted)/.test(stderr)) throw new Error(`pgbench: ${stderr.slice(0, 500)}`);
    },
  };
}

/**
 * The competing reader: once `ready` resolves (the migrations start), one report query that reads
 * pgbench_accounts inside a transaction kept open READER_MS.
 */
function startReader(pg: PgCluster, db: string, ready: () => Promise<void>): { stop(): Promise<void> } {
  const done = (async () => {
    await ready();
    await pg.query(`BEGIN; SELECT count(*) FROM pgbench_accounts WHERE aid < 1000; SELECT pg_sleep(${READER_MS / 1000}); COMMIT;`, db);
  })();
  return { stop: () => done };
}

/** The longest latency (ms) of a transaction that overlapped the window, from pgbench's logs. */
async function longestStall(logDir: string, w: Window): Promise<{ ms: number; transactions: number }> {
  let longest = 0;
  let count = 0;
  for (const f of await readdir(logDir)) {
    for (const line of (await readFile(join(logDir, f), "utf8")).split("\n")) {
      const p = line.trim().split(/\s+/);
      if (p.length < 6) continue;
      const latencyMs = Number(p[2]) / 1000;
      const doneMs = Number(p[4]) * 1000 + Number(p[5]) / 1000;
      if (doneMs < w.startMs || doneMs - latencyMs > w.endMs) continue;
      count++;
      longest = Math.max(longest, latencyMs);
    }
  }
  if (count === 0) throw new Error(`no pgbench transaction logged in ${logDir}`);
  return { ms: longest, transactions: count };
}

/** Load, then the run `body` on a fresh copy with pgbench and the reader around it. */
async function underLoad(pg: PgCluster, ws: Workspace, name: string, ready: (db: string) => Promise<void>, body: (db: string) => Promise<void>): Promise<{ stall: number; transactions: number; seconds: number }> {
  await pg.query(`CREATE DATABASE ${name} TEMPLATE loaded`);
  const logDir = join(ws.dir, `log-${name}`);
  await mkdir(logDir);
  const bench = startPgbench(pg, name, logDir);
  await new Promise((r) => setTimeout(r, 3000));
  const w: Window = { startMs: Date.now(), endMs: 0 };
  const reader = startReader(pg, name, () => ready(name));
  try {
    await body(name);
  } finally {
    w.endMs = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    await reader.stop();
    await bench.stop();
  }
  const s = await longestStall(logDir, w);
  return { stall: s.ms, transactions: s.transactions, seconds: (w.endMs - w.startMs) / 1000 };
}

async function main(): Promise<void> {
  const [pg, ws] = await Promise.all([startCluster(), workspace()]);
  try {
    await pg.query("CREATE DATABASE loaded");
    console.error(`loading pgbench scale ${SCALE} …`);
    const init = await pg.runAsOwner(join(pg.binDir, "pgbench"), ["-i", "-q", "-s", String(SCALE), "-h", pg.socketDir, "-p", String(pg.port), "loaded"]);
    if (init.code !== 0) throw new Error(init.stderr);
    const dir = join(ws.dir, "migrations");
    await mkdir(dir);
    for (const [file, text] of Object.entries(chain())) await writeFile(join(dir, file), text);
    const plain = join(ws.dir, "chain.sql");
    await writeFile(plain, Object.values(chain()).map((t) => t.replace(/^-- holdfast:.*\n/, "")).join("\n"));

    const now = async () => undefined;
    const alone = await underLoad(pg, ws, "baseline", now, () => new Promise((r) => setTimeout(r, READER_MS + 4000)));
    const psql = await underLoad(pg, ws, "by_psql", now, async (db) => {
      await new Promise((r) => setTimeout(r, 300)); // the reader's transaction is open
      await promisify(execFile)(join(pg.binDir, "psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.socketDir, "-p", String(pg.port), "-U", pg.superuser, "-f", plain, db]);
    });
    let steps: { name: string; durationMs: number }[] = [];
    // The reader starts when the upgrade's runner does (its running row in holdfast_upgrades): after the backup, before the migrations.
    const migrating = async (db: string) => {
      for (;;) {
        const rows = await pg.query("SELECT 1 FROM pg_class WHERE relname = 'holdfast_upgrades'", db);
        if (rows.length && (await pg.query("SELECT 1 FROM holdfast_upgrades WHERE state = 'running'", db)).length) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const holdfast = await underLoad(pg, ws, "by_holdfast", migrating, async (db) => {
      const r = await runCli(["upgrade", pg.url(db), "--migrations", dir, "--no-row-check", "--json"], { env: ws.env });
      if (r.code !== 0) throw new Error(`holdfast upgrade exited ${r.code}: ${r.stderr.slice(-800)}\n${r.stdout.slice(0, 4000)}`);
      steps = (JSON.parse(r.stdout) as { steps: typeof steps }).steps;
    });
    const step = (n: string) => ((steps.find((s) => s.name === n)?.durationMs ?? 0) / 1000).toFixed(1);
    console.log(`pgbench_scale: ${SCALE}`);
    console.log(`pgbench_clients: ${CLIENTS}`);
    console.log(`competing_reader: one ${READER_MS / 1000} s transaction reading pgbench_accounts, started with the migrations`);
    console.log(`baseline_longest_stall_ms: ${alone.stall.toFixed(0)}`);
    console.log(`psql_longest_stall_ms: ${psql.stall.toFixed(0)}`);
    console.log(`psql_total_s: ${psql.seconds.toFixed(1)}`);
    console.log(`holdfast_longest_stall_ms: ${holdfast.stall.toFixed(0)}`);
    console.log(`holdfast_total_s: ${holdfast.seconds.toFixed(1)}`);
    console.log(`holdfast_backup_s: ${step("backup")} (verify ${step("verify backup")})`);
    console.log(`holdfast_migrate_s: ${step("migrate")}`);
    console.log(`holdfast_checks_s: ${step("checks")}`);
    console.log(`lock_timeout_ms: ${LOCK_TIMEOUT_MS}`);
    console.log(`stall_ratio_psql_to_holdfast: ${(psql.stall / Math.max(1, holdfast.stall)).toFixed(2)}`);
    console.log(`target_no_stall_over_lock_timeout: ${holdfast.stall <= LOCK_TIMEOUT_MS ? "met" : "MISSED"}`);
    // pgbench -i: ≈ 15 MiB per scale unit.
    const sizeMb = SCALE * 15;
    await recordResult({ bench: "upgrade", operation: "longest application stall", dataset: "pgbench", sizeMb, holdfast: { seconds: holdfast.stall / 1000 }, peers: { "psql -f": { seconds: psql.stall / 1000 } } });
    await recordResult({ bench: "upgrade", operation: "upgrade, start to end", dataset: "pgbench", sizeMb, holdfast: { seconds: holdfast.seconds }, peers: { "psql -f (no backup, no checks)": { seconds: psql.seconds } } });
  } finally {
    await pg.destroy();
    await ws.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
