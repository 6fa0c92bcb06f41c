/**
 * Machine-readable results: a benchmark run by bench/all.ts (HOLDFAST_BENCH_RESULT=<file>) appends
 * one JSON line per comparison to that file; run alone, it prints as before and records nothing.
 */
import { appendFile } from "node:fs/promises";

export interface Timing {
  seconds: number;
  peakRssMb?: number;
}

export interface BenchRecord {
  /** The script: sqlite-backup, pg-logical, pitr, wal … */
  bench: string;
  /** What was timed: backup, restore, wal-push (4 ready) … */
  operation: string;
  /** pgbench (compressible) or random (≈ 2:1 text), or what the script's data is. */
  dataset: string;
  /** Size of the data the operation worked on, in MiB. */
  sizeMb: number;
  holdfast: Timing;
  /** Each peer tool on the same data: name → timing. */
  peers: Record<string, Timing>;
}

export async function recordResult(record: BenchRecord): Promise<void> {
  const file = process.env.HOLDFAST_BENCH_RESULT;
  if (file) await appendFile(file, JSON.stringify(record) + "\n", { mode: 0o600 });
}
