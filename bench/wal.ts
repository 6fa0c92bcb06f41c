/**
 * WAL archiving and WAL fetch: Holdfast vs pgBackRest archive-push, and recovery through
 * Holdfast's restore vs recovery from a local folder of plain segments.
 *   npm run bench:wal          (WAL_BENCH_SEGMENTS=48 per push run, WAL_BENCH_RECOVERY_SEGMENTS=48)
 * Pushes are driven the way PostgreSQL's archiver does it: one process per file, in name order,
 * `.ready` renamed to `.done` after each success; "k ready" means k files were waiting at once.
 */
import { chown, copyFile, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { archiveCommand } from "../dist/commands/setup-archiving.js";
import type { Settings } from "../dist/config/load.js";
import { startCluster, type PgCluster } from "../test/support/pg-cluster.js";
import { runAsServerUser, switchAndWaitArchived } from "../test/support/pitr.js";
import { benchRepository, ownedDir, pgbackrest, timed } from "./pg-tools.js";
import { recordResult } from "./result.js";

const DIST = resolve(import.meta.dirname, "../dist/cli");
const CLI = join(DIST, "main.js");
const LEAN = join(DIST, "wal-push-main.js");
const SEGMENTS = Number(process.env.WAL_BENCH_SEGMENTS ?? 48);
const RECOVERY_SEGMENTS = Number(process.env.WAL_BENCH_RECOVERY_SEGMENTS ?? 48);

/** Fill WAL with incompressible-ish inserts until `dir` (archive_command's copy target) holds `count` more segments. */
async function makeWal(c: PgCluster, dir: string, count: number): Promise<string[]> {
  const segs = async () => (await readdir(dir)).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
  const before = (await segs()).length;
  await c.query("CREATE TABLE IF NOT EXISTS wal_gen (body text)");
  while ((await segs()).length < before + count) {
    await c.query("INSERT INTO wal_gen SELECT (SELECT string_agg(md5(random()::text || i), '') FROM generate_series(1, 8) i WHERE g > 0) FROM generate_series(1, 60000) g");
    await switchAndWaitArchived((sql) => c.query(sql), 600_000);
  }
  return (await segs()).slice(before, before + count);
}

/** A pg_wal folder (with archive_status) worked through like PostgreSQL's archiver; segments/s of the pushes alone. */
async function archiverLoop(base: string, name: string, files: string[], stash: string, ready: number, push: (walPath: string) => Promise<unknown>): Promise<number> {
  const pgWal = await ownedDir(await ownedDir(base, `${name}-${ready}`), "pg_wal");
  const status = await ownedDir(pgWal, "archive_status");
  const owner = await stat(pgWal);
  let ms = 0;
  for (let i = 0; i < files.length; i += ready) {
    const group = files.slice(i, i + ready);
    for (const f of group) {
      await copyFile(join(stash, f), join(pgWal, f));
      await chown(join(pgWal, f), owner.uid, owner.gid);
      await writeFile(join(status, `${f}.ready`), "");
    }
    const t = Date.now(); // the copies are not the archiver's time: PostgreSQL wrote them
    for (const f of group) {
      await push(join(pgWal, f));
      await rename(join(status, `${f}.ready`), join(status, `${f}.done`));
    }
    ms += Date.now() - t;
  }
  await rm(join(base, `${name}-${ready}`), { recursive: true, force: true });
  return files.length / (ms / 1000);
}

/** Seconds from the first line of a server log to "archive recovery complete" (log_line_prefix '%m'). */
function recoverySeconds(log: string): number {
  const stamp = (l: string | undefined) => Date.parse((/^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)/.exec(l ?? "")?.[1] ?? "").replace(" ", "T") + "Z");
  const lines = log.split("\n").filter((l) => /^\d{4}-/.test(l));
  const end = lines.find((l) => /archive recovery complete|database system is ready to accept connections/.test(l));
  return (stamp(end) - stamp(lines[0])) / 1000;
}

async function recoverFromFolder(c: PgCluster, dir: string, restoreCommand: string): Promise<number> {
  await writeFile(join(dir, "recovery.signal"), "");
  await writeFile(join(dir, "postgresql.auto.conf"), `restore_command = '${restoreCommand.replace(/'/g, "''")}'\narchive_mode = off\nhot_standby = off\n`);
  await runAsServerUser(["chown", "-R", "postgres:postgres", dir]).catch(() => undefined);
  const pgCtl = join(c.binDir, "pg_ctl");
  const o = `-c port=${40000 + Math.floor(Math.random() * 20000)} -c listen_addresses='' -c unix_socket_directories='${dir}'`;
  const r = await runAsServerUser([pgCtl, "-D", dir, "-l", join(dir, "bench.log"), "-o", o, "-w", "-t", "600", "start"]);
  if (r.code !== 0) throw new Error(`recovery of ${dir} failed: ${r.out}`);
  for (let i = 0; i < 6000 && !/archive recovery complete/.test(await readFile(join(dir, "bench.log"), "utf8")); i++) await new Promise((res) => setTimeout(res, 100));
  await runAsServerUser([pgCtl, "-D", dir, "-m", "immediate", "-w", "stop"]);
  return recoverySeconds(await readFile(join(dir, "bench.log"), "utf8"));
}

async function main(): Promise<void> {
  const { base, work, repo, env } = await benchRepository("holdfast-bench-wal-", CLI);
  const stash = await ownedDir(base, "stash");
  // Every segment goes to a plain folder (the baseline) and, through the lean entry, to the repository.
  const archive = `cp %p ${stash}/%f && "${process.execPath}" "${LEAN}" %p --repo "${repo}"`;
  const cluster = await startCluster({ conf: { wal_level: "replica", archive_mode: "on", archive_command: `'${archive.replace(/'/g, "''")}'`, max_wal_senders: "4", max_wal_size: "4GB" } });
  console.log("machine: 2 cores shared with other work; figures vary run to run");
  try {
    // --- WAL archiving ------------------------------------------------------------------------
    const files = await makeWal(cluster, stash, SEGMENTS);
    console.log(`WAL archiving: ${files.length} × 16 MiB segments of random text per run`);
    const rates: Record<string, number> = {};
    for (const ready of [1, 4, 16]) {
      const r = join(base, `push-repo-${ready}`);
      await timed(["node", CLI, "repo", "init", r], { env });
      // The line setup-archiving writes, run the way PostgreSQL runs it: %p/%f substituted, then /bin/sh.
      const line = archiveCommand({ repo: r } as Settings);
      const asArchiver = (p: string) => line.replace(/%[pf%]/g, (m) => (m === "%p" ? p : m === "%f" ? basename(p) : "%"));
      rates[`holdfast-${ready}`] = await archiverLoop(base, "hf", files, stash, ready, (p) => timed(["/bin/sh", "-c", asArchiver(p)], { env }));
      console.log(`holdfast archive_command (setup-archiving's line), ${ready} ready: ${rates[`holdfast-${ready}`]!.toFixed(2)} segments/s`);
      await rm(r, { recursive: true, force: true });
    }
    const br = await pgbackrest(base, cluster, "walsync", "zst");
    rates.pgbackrest = await archiverLoop(base, "br", files, stash, 1, (p) => timed(["pgbackrest", `--config=${br.conf}`, "--stanza=walsync", "archive-push", p], { asPostgres: true }));
    console.log(`pgbackrest archive-push (zst-3, synchronous): ${rates.pgbackrest.toFixed(2)} segments/s`);
    for (const ready of [1, 4, 16]) console.log(`ratio holdfast(${ready} ready)/pgbackrest sync archive-push: ${(rates[`holdfast-${ready}`]! / rates.pgbackrest).toFixed(2)} (target ≥ 2)`);
    const walMb = files.length * 16;
    for (const ready of [1, 4, 16]) {
      await recordResult({ bench: "wal", operation: `wal-push (${ready} ready)`, dataset: "random", sizeMb: walMb, holdfast: { seconds: files.length / rates[`holdfast-${ready}`]! }, peers: { "pgbackrest archive-push": { seconds: files.length / rates.pgbackrest } } });
    }

    // --- Recovery: Holdfast restore vs a local folder of plain segments -------------------------
    await timed(["node", CLI, "backup", "--type", "physical", cluster.url()], { env });
    const plain = await ownedDir(base, "plain-copy");
    const old = await ownedDir(base, "old-wal-fetch-copy");
    for (const dir of [plain, old]) {
      const r = await runAsServerUser([join(cluster.binDir, "pg_basebackup"), "-h", cluster.socketDir, "-p", String(cluster.port), "-U", cluster.superuser, "-D", dir, "-X", "none", "-c", "fast"]);
      if (r.code !== 0) throw new Error(`pg_basebackup: ${r.out}`);
    }
    await makeWal(cluster, stash, RECOVERY_SEGMENTS);
    console.log(`recovery: base backups taken together, then ${RECOVERY_SEGMENTS} × 16 MiB segments replayed (server log: first line → archive recovery complete)`);
    const restored = join(work, "restored");
    const hr = await timed(["node", CLI, "restore", "--type", "physical", "--to", restored, "--json"], { env });
    const result = JSON.parse(hr.out.slice(0, hr.out.lastIndexOf("@@TIME")));
    const hfRecovery = recoverySeconds(await readFile(result.serverLog, "utf8"));
    console.log(`holdfast restore: ${hr.seconds.toFixed(2)} s in all, recovery ${hfRecovery.toFixed(2)} s (${result.walFetch.fetched} segments fetched, ${result.walFetch.requests} asked through the socket), peak RSS ${hr.rssMb.toFixed(0)} MiB`);
    const plainRecovery = await recoverFromFolder(cluster, plain, `cp ${stash}/%f %p`);
    console.log(`recovery from a local folder of plain segments (cp): ${plainRecovery.toFixed(2)} s`);
    const before = `"${process.execPath}" "${CLI}" wal-fetch %f %p --repo "${repo}" --passphrase-file "${env.HOLDFAST_PASSPHRASE_FILE}" --log-level warn`;
    const oldRecovery = await recoverFromFolder(cluster, old, `test -f pg_wal/holdfast-prefetch/%f && mv -f pg_wal/holdfast-prefetch/%f %p || ${before}`);
    console.log(`recovery through holdfast wal-fetch as restore_command (the restore before this change): ${oldRecovery.toFixed(2)} s`);
    await recordResult({ bench: "wal", operation: "recovery through the repository", dataset: "random", sizeMb: RECOVERY_SEGMENTS * 16, holdfast: { seconds: hfRecovery, peakRssMb: hr.rssMb }, peers: { "cp from a local folder": { seconds: plainRecovery } } });
    console.log(`ratio holdfast restore recovery/local folder: ${(hfRecovery / plainRecovery).toFixed(2)} (target ≤ 1.2); wal-fetch restore_command/local folder: ${(oldRecovery / plainRecovery).toFixed(2)}`);
  } finally {
    await cluster.destroy();
    await rm(base, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
