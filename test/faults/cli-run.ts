import { readdirSync, readFileSync } from "node:fs";
import { startCli, type RunResult } from "../support/cli.js";

export type Env = Record<string, string | undefined>;

export interface TimedResult extends RunResult {
  ms: number;
  /** The command did not end by itself within its bound and was killed. */
  timedOut: boolean;
}

/** Run the built CLI; kill it (and say so) when it has not ended after timeoutMs. */
export function runBounded(args: string[], env: Env, timeoutMs = 120_000): Promise<TimedResult> {
  const started = Date.now();
  const child = startCli(args, { env });
  let stdout = "";
  let stderr = "";
  let timedOut = false;
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin!.end();
  const timer = setTimeout(() => {
    timedOut = true;
    killTree(child.pid!);
  }, timeoutMs);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, ms: Date.now() - started, timedOut });
    });
  });
}

export interface KillResult {
  /** The command ended by itself before the kill (then its result is here). */
  finished?: RunResult;
  /** Child processes (pg_dump, pg_basebackup, …) still alive 10 s after the kill. */
  survivors: string[];
}

/** Start a command and SIGKILL it after delayMs, as a crash or the OOM killer would. */
export async function killAfter(args: string[], env: Env, delayMs: number): Promise<KillResult> {
  const child = startCli(args, { env });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin!.end();
  const closed = new Promise<number | null>((r) => child.once("close", (code) => r(code)));
  const ended = await Promise.race([closed.then(() => true), sleep(delayMs).then(() => false)]);
  if (ended) return { finished: { code: child.exitCode ?? 1, stdout, stderr }, survivors: [] };
  const family = descendants(child.pid!);
  child.kill("SIGKILL");
  await closed;
  const survivors = await waitGone(family, 10_000);
  for (const pid of survivors) tryKill(pid);
  return { survivors: survivors.map((pid) => `${commOf(pid) ?? "?"}[${pid}]`) };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The one `holdfast: error:` line of a failed command, or why the output is not one clean line. */
export function oneLineError(result: RunResult): { line?: string; problem?: string } {
  const lines = result.stderr.split("\n").filter((l) => l.startsWith("holdfast: error: "));
  if (/^\s+at .+\(.+:\d+:\d+\)$/m.test(result.stderr) || /^\s+at .+:\d+:\d+$/m.test(result.stderr)) return { problem: "stack trace on stderr" };
  if (lines.length !== 1) return { problem: `${lines.length} error lines (${oneLine(result.stderr)})` };
  return { line: lines[0]!.slice("holdfast: error: ".length) };
}

export function oneLine(text: string, max = 240): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function parents(): Map<number, number> {
  const map = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      map.set(Number(name), ppid);
    } catch {
      /* gone */
    }
  }
  return map;
}

/** Every process below pid (children, grandchildren, …). */
export function descendants(pid: number): number[] {
  const map = parents();
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    for (const [child, parent] of map) {
      if (parent !== p || found.includes(child)) continue;
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(100);
  }
}

function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* gone */
  }
}

export function killTree(pid: number): void {
  for (const p of descendants(pid)) tryKill(p);
  tryKill(pid);
}

/** What a failed command said: its error line (and hint) when it printed one, else the end of stderr. */
export function failureText(result: RunResult): string {
  const said = result.stderr.split("\n").filter((l) => l.startsWith("holdfast: error: ") || l.startsWith("holdfast: hint: "));
  if (said.length > 0) return oneLine(said.join(" "), 400);
  return oneLine(result.stderr.split("\n").filter((l) => !l.startsWith("{")).join(" ") || result.stderr.slice(-240));
}
