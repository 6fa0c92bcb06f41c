/**
 * Achieved RPO with archive_timeout = 60 s: commit a row on an otherwise idle cluster, then time
 * how long until the WAL segment holding that commit is archived in the repository (from then on a
 * restore to latest includes the row).   npx tsx bench/pitr-rpo.ts   (PITR_RPO_ROUNDS=3)
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { runCli, workspace } from "../test/support/cli.js";
import { startCluster } from "../test/support/pg-cluster.js";
import { archiveCommandFor, shareWithServer } from "../test/support/pitr.js";

const ROUNDS = Number(process.env.PITR_RPO_ROUNDS ?? 3);

async function main(): Promise<void> {
  const ws = await workspace();
  await shareWithServer(ws);
  const cluster = await startCluster({
    conf: { wal_level: "replica", archive_mode: "on", archive_timeout: "60", archive_command: `'${archiveCommandFor(ws, true)}'` },
  });
  try {
    await cluster.query("CREATE TABLE rpo (id serial, at timestamptz DEFAULT clock_timestamp())");
    const b = await runCli(["backup", "--type", "physical", cluster.url()], { env: ws.env });
    if (b.code !== 0) throw new Error(b.stderr);
    const gaps: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await cluster.query("INSERT INTO rpo DEFAULT VALUES");
      const committed = Date.now();
      const [row] = await cluster.query<{ seg: string }>("SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS seg");
      const seg = row!.seg;
      const record = join(ws.repo, "wal", seg.slice(0, 8), `${seg}.json`);
      for (;;) {
        if (await access(record).then(() => true, () => false)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      gaps.push((Date.now() - committed) / 1000);
      console.log(`round ${i + 1}: last committed row restorable after ${gaps.at(-1)!.toFixed(1)} s (segment ${seg})`);
    }
    console.log(`achieved RPO (archive_timeout=60, lean wal-push): worst ${Math.max(...gaps).toFixed(1)} s, mean ${(gaps.reduce((a, b) => a + b, 0) / gaps.length).toFixed(1)} s over ${gaps.length} rounds`);
  } finally {
    await cluster.destroy();
    await ws.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
