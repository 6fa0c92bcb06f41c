/**
 * A disaster-recovery drill of a pgbench database (scale DRILL_SCALE, default 50) on a cluster
 * archiving its WAL into the repository (archive_timeout 60 s): a base backup and a logical backup
 * (copied to an S3 offsite by copy_to), writes after them, then `holdfast drill` of the base backup
 * from the local repository (recovery to latest: RPO from the recovery log) and of the logical
 * backup from the local repository and from the S3 copy. Prints RTO per phase, RPO, restore
 * throughput (MB of database per second of fetch+decode+restore) and the RTO projected for 10 GB,
 * and the peak RSS of each Holdfast process.   npm run bench:drill   (DRILL_SCALE=10 on a slow box)
 */
import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { CLI, runCli, workspace } from "../test/support/cli.js";
import { startCluster } from "../test/support/pg-cluster.js";
import { archiveCommandFor, shareWithServer } from "../test/support/pitr.js";
import { startS3 } from "../test/support/s3.js";
import { measure } from "./measure.js";

const SCALE = Number(process.env.DRILL_SCALE ?? 50);
const GOAL = { rtoMs: 120_000, rpoMs: 60_000 };
const TEN_GB_MB = 10 * 1024;

interface Record {
  verdict: string;
  reasons: string[];
  phases: { name: string; ms: number }[];
  rtoMs?: number;
  rpo: { ms?: number; basis: string };
}

const s = (ms: number | undefined) => (ms === undefined ? "n/a" : `${(ms / 1000).toFixed(1)} s`);
const load = () => loadavg().map((l) => l.toFixed(1)).join(" ");

async function main(): Promise<void> {
  const s3 = await startS3(["offsite"]);
  const ws = await workspace();
  await shareWithServer(ws);
  const cluster = await startCluster({
    conf: { wal_level: "replica", archive_mode: "on", archive_timeout: "60", archive_command: `'${archiveCommandFor(ws, true).replace(/'/g, "''")}'`, max_wal_senders: "4", shared_buffers: "128MB", max_wal_size: "1GB" },
  });
  const config = join(ws.dir, "holdfast.yaml");
  await writeFile(config, [`repo: ${ws.repo}`, "copy_to: s3://offsite/bench", `s3: { endpoint: "${s3.endpoint}" }`, "databases:", `  bench: { source: "${cluster.url("bench")}" }`, ""].join("\n"));
  const env = { ...process.env, ...ws.env, ...s3.env, HOLDFAST_CONFIG: config, HOLDFAST_LOG_FORMAT: "json" };
  const pgbench = (args: string[]) => execFileSync(join(cluster.binDir, "pgbench"), ["-h", cluster.socketDir, "-p", String(cluster.port), "-U", cluster.superuser, ...args, "bench"], { stdio: "ignore" });
  const holdfast = async (label: string, args: string[]) => {
    try {
      const m = await measure(process.execPath, [CLI, ...args], env);
      console.log(`${label}: ${s(m.wallMs)}, peak RSS ${m.peakRssMb.toFixed(0)} MB (load ${load()})`);
      return m;
    } catch (err) {
      console.log(`${label}: ${(err as Error).message.split("\n")[0]} (load ${load()})`);
      return undefined;
    }
  };
  const recorded = async () => (JSON.parse((await runCli(["drills", "--json"], { env })).stdout) as { drills: Record[] }).drills;
  try {
    console.log(`pgbench scale ${SCALE}, ${process.env.DRILL_SCALE ? "DRILL_SCALE" : "default"}; load average ${load()} on ${execFileSync("nproc").toString().trim()} cores`);
    await cluster.query("CREATE DATABASE bench");
    const t0 = Date.now();
    pgbench(["-i", "-q", "-s", String(SCALE)]);
    const [size] = await cluster.query<{ bytes: string }>("SELECT pg_database_size('bench') AS bytes");
    const dbMb = Number(size!.bytes) / 1024 / 1024;
    console.log(`pgbench -i: ${s(Date.now() - t0)}, database ${dbMb.toFixed(0)} MB`);

    if (!(await holdfast("backup --type physical", ["backup", "--type", "physical", cluster.url("bench")]))) throw new Error("base backup failed");
    await holdfast("backup (logical, copied to S3 by copy_to)", ["backup", cluster.url("bench")]);
    pgbench(["-c", "2", "-T", "15", "-n"]);
    console.log("15 s of pgbench writes after the backups; drills start now");

    const drills: [string, string[]][] = [
      ["physical, local, to latest", ["--type", "physical"]],
      ["logical, local", ["--type", "logical"]],
      ["logical, from the S3 copy", ["--type", "logical", "--from", "s3://offsite/bench"]],
    ];
    for (const [label, args] of drills) {
      const before = (await recorded()).length;
      const m = await holdfast(`drill ${label}`, ["drill", "bench", ...args]);
      const after = await recorded();
      if (after.length === before) continue;
      const rec = after[0]!;
      const moving = rec.phases.filter((p) => ["fetch", "decode", "restore"].includes(p.name)).reduce((t, p) => t + p.ms, 0);
      const rest = (rec.rtoMs ?? 0) - moving;
      const mbPerS = dbMb / (moving / 1000);
      const projected = (TEN_GB_MB / mbPerS) * 1000 + rest;
      console.log(`  ${rec.verdict}${rec.reasons.length ? ` (${rec.reasons[0]})` : ""}; RTO ${s(rec.rtoMs)} [${rec.phases.map((p) => `${p.name} ${s(p.ms)}`).join(", ")}]; RPO ${s(rec.rpo.ms)} (${rec.rpo.basis})`);
      console.log(`  restore throughput ${mbPerS.toFixed(1)} MB/s of database; projected RTO for 10 GB ${s(projected)}; wall ${s(m?.wallMs)}`);
      console.log(`  goal RTO <= ${s(GOAL.rtoMs)}: ${(rec.rtoMs ?? Infinity) <= GOAL.rtoMs ? "met" : "MISSED"}; RPO <= ${s(GOAL.rpoMs)}: ${rec.rpo.ms === undefined ? "n/a" : rec.rpo.ms <= GOAL.rpoMs ? "met" : "MISSED"}`);
    }
  } finally {
    await cluster.destroy();
    await s3.stop();
    await ws.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
