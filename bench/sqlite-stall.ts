/**
 * Longest insert stall of an application writing to SQLite while `holdfast backup` runs, in WAL
 * mode and in rollback-journal (DELETE) mode. The writer is a separate process committing one small
 * row at a time; its stall is the largest gap between two consecutive commits. A baseline run of
 * the writer alone (same length, no backup) shows the machine's own noise.
 *   npx tsx bench/sqlite-stall.ts          (HOLDFAST_BENCH_ROWS=1500000 ≈ 210 MB, HOLDFAST_BENCH_ROUNDS=3,
 *                                          HOLDFAST_BENCH_MODES=wal,delete)
 * Prints `name: value` lines.
 */
import { copyFile, mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { workspace } from "../test/support/cli.js";
import { createDatabase } from "../test/support/sqlite.js";
import { measureWriterStall, startStatsWriter, stopStatsWriter } from "../test/support/writer-stall.js";
import { median } from "./measure.js";

const rows = Number(process.env.HOLDFAST_BENCH_ROWS ?? 1_500_000);
const rounds = Number(process.env.HOLDFAST_BENCH_ROUNDS ?? 3);
const dir = process.env.HOLDFAST_BENCH_DIR ?? "/tmp/holdfast-bench";

async function template(mode: "wal" | "delete"): Promise<string> {
  const path = join(dir, `stall-${mode}-${rows}.db`);
  if (!(await stat(path).catch(() => undefined))) createDatabase(path, rows, { wal: mode === "wal" });
  return path;
}

async function main(): Promise<void> {
  await mkdir(dir, { recursive: true });
  const ws = await workspace();
  try {
    const modes = (process.env.HOLDFAST_BENCH_MODES ?? "wal,delete").split(",") as ("wal" | "delete")[];
    for (const mode of modes) {
      const source = await template(mode);
      const stalls: number[] = [];
      const baselines: number[] = [];
      const times: number[] = [];
      const blocked: number[] = [];
      let peak = 0;
      for (let r = 0; r < rounds; r++) {
        const db = join(ws.dir, `${mode}-${r}.db`);
        await copyFile(source, db);
        const run = await measureWriterStall(db, mode, ws.env);
        if (run.backup.code !== 0) throw new Error(`backup failed: ${run.backup.stderr.slice(-500)}`);
        const details = JSON.parse(run.backup.stdout).details as Record<string, unknown>;
        // The same writer alone, for as long as the backup took.
        const alone = await startStatsWriter(db, mode);
        await new Promise((res) => setTimeout(res, run.backupMs));
        const base = await stopStatsWriter(alone);
        stalls.push(run.writer.maxGapMs);
        baselines.push(base.maxGapMs);
        times.push(run.backupMs);
        if (typeof details.writersBlockedMs === "number") blocked.push(details.writersBlockedMs);
        peak = Math.max(peak, run.peakRssMb);
        console.log(`# ${mode} round ${r + 1}: stall ${run.writer.maxGapMs.toFixed(0)} ms (alone ${base.maxGapMs.toFixed(0)} ms), backup ${(run.backupMs / 1000).toFixed(2)} s, copy ${String(details.snapshotCopyMs)} ms, commits ${run.writer.commits}, failures ${run.writer.failures}`);
        for (const suffix of ["", "-wal", "-shm", "-journal"]) await rm(db + suffix, { force: true });
      }
      const sizeMb = (await stat(source)).size / 1048576;
      console.log(`${mode}_database_mb: ${sizeMb.toFixed(0)}`);
      console.log(`${mode}_longest_stall_ms: ${Math.max(...stalls).toFixed(0)}`);
      console.log(`${mode}_median_longest_stall_ms: ${median(stalls).toFixed(0)}`);
      console.log(`${mode}_writer_alone_longest_stall_ms: ${Math.max(...baselines).toFixed(0)}`);
      if (blocked.length) console.log(`${mode}_writers_blocked_ms: ${median(blocked).toFixed(0)}`);
      console.log(`${mode}_backup_s: ${(median(times) / 1000).toFixed(2)}`);
      console.log(`${mode}_peak_rss_mb: ${peak.toFixed(0)}`);
    }
  } finally {
    await ws.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
