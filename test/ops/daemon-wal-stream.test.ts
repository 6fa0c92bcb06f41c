import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { startDaemon, type RunningDaemon } from "../support/daemon.js";
import { freePort, metricValue, parseMetrics, waitFor } from "../support/http.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { SERVER_USER, shareWithServer, startArchivingCluster, startRestored } from "../support/pitr.js";

/**
 * The daemon streams WAL with PostgreSQL's own pg_receivewal (a real cluster, 1 MiB segments) into
 * the repository archive_command also archives into; on stop it ships the partial segment, and a
 * point-in-time restore uses it. The daemon runs as the server's OS user, as archive_command does,
 * so both can read each other's records.
 */
let ws: Workspace;
let cluster: PgCluster;
let daemon: RunningDaemon;
let base: string;
const SLOT = "holdfast_test";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logLines = (d: RunningDaemon) => d.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
const receiverPids = (d: RunningDaemon) => logLines(d).filter((l) => l.msg === "pg_receivewal started").map((l) => Number(l.pid));
const shippedFiles = (d: RunningDaemon) => logLines(d).filter((l) => l.msg === "streamed WAL archived").flatMap((l) => l.files as string[]);
const metric = async (name: string) => metricValue(parseMetrics(await (await fetch(`${base}/metrics`)).text()), name, { database: "pg" });
const currentSegment = async () => (await cluster.query<{ seg: string }>("SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg"))[0]!.seg;

async function startStreamingDaemon(): Promise<RunningDaemon> {
  const d = await startDaemon(join(ws.dir, "holdfast.yaml"), { user: SERVER_USER });
  await waitFor("pg_receivewal to stream", async () => (await metric("holdfast_wal_stream_up")) === 1, 20_000);
  return d;
}

beforeAll(async () => {
  ws = await workspace();
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws);
  await cluster.query("CREATE TABLE events (id int PRIMARY KEY, batch int NOT NULL)");
  await cluster.query("INSERT INTO events SELECT g, 1 FROM generate_series(1, 10) g");
  const b = await runCli(["backup", "--type", "physical", cluster.url()], { env: ws.env });
  if (b.code !== 0) throw new Error(b.stderr);
  base = `http://127.0.0.1:${await freePort()}`;
  const yaml = [
    `repo: ${ws.repo}`,
    `passphrase_file: ${ws.passphraseFile}`,
    `state_dir: ${join(ws.dir, "state")}`,
    "http:",
    `  listen: ${base.replace("http://", "")}`,
    "databases:",
    "  pg:",
    `    source: "${cluster.url()}"`,
    "    wal_stream:",
    `      slot: ${SLOT}`,
  ].join("\n");
  await writeFile(join(ws.dir, "holdfast.yaml"), yaml);
  // The daemon runs as the server's user: the config joins the files it already owns.
  await shareWithServer(ws);
  daemon = await startStreamingDaemon();
}, 60_000);

afterAll(async () => {
  daemon?.kill();
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("daemon WAL streaming (pg_receivewal)", () => {
  it("ships each completed segment into the repository, where wal verify sees a gap-free chain", async () => {
    await cluster.query("INSERT INTO events SELECT g, 2 FROM generate_series(11, 20) g");
    const seg = await currentSegment();
    await cluster.query("SELECT pg_switch_wal()");
    // archive_command pushes the same segment too: whichever comes second finds the same content.
    await waitFor(`segment ${seg} streamed`, () => shippedFiles(daemon).includes(seg), 20_000);
    const spool = await readdir(join(ws.dir, "state", "wal-stream", "pg"));
    expect(spool).not.toContain(seg);
    const v = await runCli(["wal", "verify", "--json"], { env: ws.env });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const report = JSON.parse(v.stdout);
    expect(report.timelines[0].missingCount).toBe(0);
    expect(report.timelines[0].last >= seg).toBe(true);
    expect(await metric("holdfast_wal_stream_last_shipped_timestamp_seconds")).toBeGreaterThan(Date.now() / 1000 - 60);
    await waitFor("the received LSN metric", async () => ((await metric("holdfast_wal_stream_received_lsn_bytes")) ?? 0) > 0, 10_000);
  });

  it("restarts pg_receivewal when it dies, and creates the slot only once", async () => {
    const [first] = receiverPids(daemon);
    process.kill(first!, "SIGKILL");
    await waitFor("a new pg_receivewal", () => receiverPids(daemon).length === 2, 20_000);
    await waitFor("the stream up again", async () => (await metric("holdfast_wal_stream_up")) === 1, 10_000);
    expect(await metric("holdfast_wal_stream_restarts")).toBe(1);
    const slots = await cluster.query<{ n: string }>(`SELECT count(*) AS n FROM pg_replication_slots WHERE slot_name = '${SLOT}' AND slot_type = 'physical'`);
    expect(Number(slots[0]!.n)).toBe(1);
    // Nothing lost across the restart: the slot held the WAL, the chain stays gap-free.
    await cluster.query("INSERT INTO events SELECT g, 3 FROM generate_series(21, 30) g");
    const seg = await currentSegment();
    await cluster.query("SELECT pg_switch_wal()");
    await waitFor(`segment ${seg} streamed after the restart`, () => shippedFiles(daemon).includes(seg), 20_000);
  });

  it("ships the partial segment on stop, and a point-in-time restore past the last completed segment uses it", async () => {
    await cluster.query("INSERT INTO events SELECT g, 4 FROM generate_series(31, 40) g");
    await sleep(300);
    const target = (await cluster.query<{ now: Date }>("SELECT clock_timestamp() AS now"))[0]!.now.toISOString();
    await sleep(300);
    await cluster.query("INSERT INTO events SELECT g, 5 FROM generate_series(41, 50) g");
    const [{ lsn }] = (await cluster.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")) as [{ lsn: string }];
    // Without --synchronous pg_receivewal fsyncs at segment ends: what it has written is what it holds.
    await waitFor("the receiver to write the last commit", async () => {
      const rows = await cluster.query<{ ok: boolean }>(`SELECT write_lsn >= '${lsn}'::pg_lsn AS ok FROM pg_stat_replication WHERE application_name = '${SLOT}'`);
      return rows[0]?.ok === true;
    }, 10_000);
    const seg = await currentSegment();
    expect(await daemon.stop()).toBe(0);
    const archived = await readdir(join(ws.repo, "wal", seg.slice(0, 8)));
    expect(archived).toContain(`${seg}.partial.json`);
    expect(archived).not.toContain(`${seg}.json`);

    const dir = join(ws.dir, "restored");
    const r = await runCli(["restore", "--type", "physical", "--to", dir, "--target-time", target, "--json"], { env: ws.env });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // Stopping at the first commit after the target needs WAL that only the partial holds.
    expect(JSON.parse(r.stdout).details.stoppedAt).toMatch(/recovery stopping before commit/);
    const server = await startRestored(dir);
    try {
      const rows = await server.query<{ batch: number; n: string }>("SELECT batch, count(*) AS n FROM events GROUP BY batch ORDER BY batch");
      expect(rows.map((x) => [x.batch, Number(x.n)])).toEqual([[1, 10], [2, 10], [3, 10], [4, 10]]);
    } finally {
      await server.stop();
    }
  });
});
