import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { startCli, type RunResult } from "./cli.js";
import Database from "better-sqlite3";

/** What the writer process (sqlite-writer.mjs --stats) saw; times are epoch milliseconds. */
export interface WriterStats {
  commits: number;
  failures: number;
  maxGapMs: number;
  maxGapEndedAt: number;
  gapsOver100Ms: number;
  /** Gaps longer than 50 ms (first 50): [ended at, length in ms]. */
  slowGaps: [number, number][];
  firstAt: number;
  lastAt: number;
}

export interface StallRun {
  writer: WriterStats;
  backup: RunResult;
  backupMs: number;
  backupStartedAt: number;
  backupEndedAt: number;
  peakRssMb: number;
  /** Rows of the writer's table just before the backup started and just after it ended. */
  before: number;
  after: number;
}

const WRITER = resolve(import.meta.dirname, "sqlite-writer.mjs");

/**
 * A separate OS process committing one small row at a time, in the given journal mode, timing
 * every commit. Its busy timeout is long (60 s) so a blocked commit shows up as a stall rather than
 * as a failure.
 */
export function startStatsWriter(db: string, journal: "wal" | "delete"): Promise<ChildProcess> {
  const args = [WRITER, db, "--journal", journal, "--rows-per-commit", "1", "--busy-timeout", "60000", "--stats"];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((res, rej) => {
    child.stdout!.once("data", () => res(child));
    child.once("exit", (code) => rej(new Error(`writer exited ${code}`)));
  });
}

/** SIGTERM the writer and read its summary line. */
export function stopStatsWriter(child: ChildProcess): Promise<WriterStats> {
  return new Promise((res, rej) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", () => {
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) res(JSON.parse(line) as WriterStats);
      else rej(new Error(`writer printed no summary: ${out}`));
    });
    child.kill("SIGTERM");
  });
}

/** Run the CLI to completion, sampling its peak RSS (VmHWM). */
export function runCliMeasured(args: string[], env: Record<string, string>): Promise<RunResult & { peakRssMb: number; wallMs: number }> {
  return new Promise((res, rej) => {
    const started = performance.now();
    const child = startCli(args, { env });
    child.stdin!.end();
    let stdout = "";
    let stderr = "";
    let peakKb = 0;
    const timer = setInterval(() => {
      readFile(`/proc/${child.pid}/status`, "utf8").then(
        (s) => (peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0))),
        () => undefined,
      );
    }, 25);
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", rej);
    child.on("close", (code, signal) => {
      clearInterval(timer);
      res({ code: code ?? (signal ? 128 : 1), stdout, stderr, peakRssMb: peakKb / 1024, wallMs: performance.now() - started });
    });
  });
}

/** Row count read with a busy timeout: in rollback-journal mode the writer holds its locks often. */
function countRows(path: string, table: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma("busy_timeout = 10000");
    return Number(db.prepare(`SELECT count(*) FROM "${table}"`).pluck().get());
  } finally {
    db.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Back up `db` with the real CLI while a writer process inserts one row per commit, and report the
 * longest gap between two of its commits over the whole run (warm-up, backup, cool-down).
 */
export async function measureWriterStall(db: string, journal: "wal" | "delete", env: Record<string, string>, extraArgs: string[] = []): Promise<StallRun> {
  const writer = await startStatsWriter(db, journal);
  let stats: WriterStats | undefined;
  try {
    await sleep(300);
    const before = countRows(db, "events");
    const backupStartedAt = Date.now();
    const backup = await runCliMeasured(["backup", `sqlite:${db}`, "--json", ...extraArgs], env);
    const backupEndedAt = Date.now();
    const after = countRows(db, "events");
    await sleep(300);
    stats = await stopStatsWriter(writer);
    return { writer: stats, backup, backupMs: backup.wallMs, backupStartedAt, backupEndedAt, peakRssMb: backup.peakRssMb, before, after };
  } finally {
    if (!stats) writer.kill("SIGKILL");
  }
}
