/**
 * Achieved RPO of a point-in-time restore, two ways, on real clusters (16 MiB segments):
 *
 * - archiving: archive_command = lean wal-push, archive_timeout = PITR_RPO_ARCHIVE_TIMEOUT (30 s);
 * - streaming: the same, plus the daemon's wal_stream (pg_receivewal into the repository).
 *
 * Each mode: a writer commits a row (with its clock_timestamp) every 50 ms; after a while the
 * primary is lost (pg_ctl stop -m immediate), the daemon stops (streaming: it ships the partial
 * segment), `holdfast restore --type physical` recovers to latest, and RPO = crash time − newest
 * row restored. Streaming also reports how long after a commit the receiver had written it.
 *   npx tsx bench/pitr-rpo.ts   (PITR_RPO_ROUNDS=3, PITR_RPO_ARCHIVE_TIMEOUT=30,
 *                                PITR_RPO_MODES=archiving,streaming, PITR_RPO_SYNCHRONOUS=true)
 */
import { join } from "node:path";
import pg from "pg";
import { writeFile } from "node:fs/promises";
import { runCli, workspace, type Workspace } from "../test/support/cli.js";
import { startDaemon, type RunningDaemon } from "../test/support/daemon.js";
import { freePort, waitFor } from "../test/support/http.js";
import { startCluster, type PgCluster } from "../test/support/pg-cluster.js";
import { SERVER_USER, archiveCommandFor, shareWithServer, startRestored } from "../test/support/pitr.js";
import { recordResult } from "./result.js";

const ROUNDS = Number(process.env.PITR_RPO_ROUNDS ?? 3);
const MODES = (process.env.PITR_RPO_MODES ?? "archiving,streaming").split(",") as ("archiving" | "streaming")[];
/** pg_receivewal --synchronous: every write flushed and acknowledged at once (else a status every second). */
const SYNCHRONOUS = process.env.PITR_RPO_SYNCHRONOUS !== "false";
const ARCHIVE_TIMEOUT = Number(process.env.PITR_RPO_ARCHIVE_TIMEOUT ?? 30);
const WRITE_EVERY_MS = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Setup {
  ws: Workspace;
  cluster: PgCluster;
  daemon?: RunningDaemon;
}

async function setUp(streaming: boolean): Promise<Setup> {
  const ws = await workspace();
  await shareWithServer(ws);
  const cluster = await startCluster({
    conf: { wal_level: "replica", archive_mode: "on", archive_timeout: String(ARCHIVE_TIMEOUT), archive_command: `'${archiveCommandFor(ws, true).replace(/'/g, "''")}'`, max_wal_senders: "4" },
  });
  await cluster.query("CREATE TABLE rpo (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())");
  // In the base backup: a restore with none of the writer's rows loses everything since then.
  await cluster.query("INSERT INTO rpo DEFAULT VALUES");
  const b = await runCli(["backup", "--type", "physical", cluster.url()], { env: ws.env });
  if (b.code !== 0) throw new Error(b.stderr);
  if (!streaming) return { ws, cluster };
  const listen = `127.0.0.1:${await freePort()}`;
  const config = join(ws.dir, "holdfast.yaml");
  const yaml = [`repo: ${ws.repo}`, `passphrase_file: ${ws.passphraseFile}`, `state_dir: ${join(ws.dir, "state")}`, "http:", `  listen: ${listen}`, "databases:", "  pg:", `    source: "${cluster.url()}"`, "    wal_stream:", "      slot: holdfast_bench", `      synchronous: ${SYNCHRONOUS}`];
  await writeFile(config, yaml.join("\n"));
  await shareWithServer(ws);
  const daemon = await startDaemon(config, { user: SERVER_USER });
  await waitFor("pg_receivewal to stream", async () => (await cluster.query("SELECT 1 FROM pg_stat_replication WHERE application_name = 'holdfast_bench'")).length === 1, 30_000);
  return { ws, cluster, daemon };
}

/** Streaming only: how long after its commit the receiver has written a row's WAL. */
async function receiveDelays(cluster: PgCluster): Promise<number[]> {
  const delays: number[] = [];
  for (let i = 0; i < 20; i++) {
    const [row] = await cluster.query<{ lsn: string }>("INSERT INTO rpo DEFAULT VALUES RETURNING pg_current_wal_insert_lsn()::text AS lsn");
    const committed = performance.now();
    for (;;) {
      const [r] = await cluster.query<{ ok: boolean }>(`SELECT write_lsn >= '${row!.lsn}'::pg_lsn AS ok FROM pg_stat_replication WHERE application_name = 'holdfast_bench'`);
      if (r?.ok) break;
      await sleep(2);
    }
    delays.push(performance.now() - committed);
    await sleep(100);
  }
  return delays;
}

/** Write for a while, lose the primary, restore to latest: seconds of commits lost. */
async function crashRound(streaming: boolean, round: number): Promise<number> {
  const s = await setUp(streaming);
  try {
    let writing = true;
    const client = new pg.Client({ host: s.cluster.socketDir, port: s.cluster.port, user: s.cluster.superuser, database: "postgres" });
    client.on("error", () => (writing = false)); // the crash
    await client.connect();
    // The commit time of the last insert the server acknowledged: what a restore must not lose.
    let acknowledged = 0;
    const writer = (async () => {
      while (writing) {
        await client
          .query<{ at: Date }>("INSERT INTO rpo DEFAULT VALUES RETURNING at")
          .then((r) => (acknowledged = r.rows[0]!.at.getTime()))
          .catch(() => (writing = false));
        await sleep(WRITE_EVERY_MS);
      }
      await client.end().catch(() => undefined);
    })();
    // Crash at a different point of the archive_timeout cycle each round.
    await sleep(3_000 + ((round * 7_919) % (ARCHIVE_TIMEOUT * 1000)));
    if (streaming && round === 0) {
      const d = await receiveDelays(s.cluster);
      console.log(`streaming (synchronous: ${SYNCHRONOUS}): commit → reported written by pg_receivewal: median ${median(d).toFixed(1)} ms, worst ${Math.max(...d).toFixed(1)} ms over ${d.length} commits`);
    }
    const crashAt = Date.now();
    await s.cluster.runAsOwner(join(s.cluster.binDir, "pg_ctl"), ["-D", s.cluster.dataDir, "-m", "immediate", "-w", "stop"]);
    writing = false;
    await writer;
    if (s.daemon && (await s.daemon.stop()) !== 0) throw new Error(`daemon did not stop cleanly: ${s.daemon.stderr.slice(-2000)}`);
    const dir = join(s.ws.dir, "restored");
    const r = await runCli(["restore", "--type", "physical", "--to", dir], { env: s.ws.env });
    if (r.code !== 0) throw new Error(`restore failed: ${r.stderr}`);
    const server = await startRestored(dir);
    try {
      const [row] = await server.query<{ at: Date | null }>("SELECT max(at) AS at FROM rpo");
      // Lost: acknowledged commits the restore does not have. A commit in flight when the crash
      // began may still have made it: that is no loss. (Synchronous streaming holds commits while
      // the receiver is away: such a wait shows here, not as a loss.)
      const stalled = (crashAt - acknowledged) / 1000;
      if (stalled > 1) console.log(`round ${round + 1}: the writer's last acknowledged commit was ${stalled.toFixed(2)} s before the crash`);
      return Math.max(0, acknowledged - (row!.at?.getTime() ?? 0)) / 1000;
    } finally {
      await server.stop();
    }
  } finally {
    s.daemon?.kill();
    await s.cluster.destroy();
    await s.ws.cleanup();
  }
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const results: Record<string, number[]> = { archiving: [], streaming: [] };
  for (const mode of MODES) {
    for (let i = 0; i < ROUNDS; i++) {
      const rpo = await crashRound(mode === "streaming", i);
      results[mode]!.push(rpo);
      console.log(`${mode} round ${i + 1}: ${rpo.toFixed(2)} s of commits lost`);
    }
  }
  for (const [mode, xs] of Object.entries(results).filter(([, xs]) => xs.length > 0)) {
    if (mode === "streaming" && results.archiving!.length) {
      await recordResult({ bench: "pitr-rpo", operation: "RPO, worst seconds of commits lost", dataset: "writer", sizeMb: 0, holdfast: { seconds: Math.max(...xs) }, peers: { [`archive_command, archive_timeout ${ARCHIVE_TIMEOUT} s`]: { seconds: Math.max(...results.archiving!) } } });
    }
    console.log(`rpo-${mode}: worst ${Math.max(...xs).toFixed(2)} s, median ${median(xs).toFixed(2)} s over ${xs.length} crashes (archive_timeout=${ARCHIVE_TIMEOUT} s${mode === "streaming" ? `, synchronous: ${SYNCHRONOUS}` : ""}, a commit every ${WRITE_EVERY_MS} ms)`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
