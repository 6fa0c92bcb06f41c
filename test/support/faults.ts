import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rm, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startCli, type RunOptions, type RunResult } from "./cli.js";

/**
 * Real storage faults for tests that need root: a small tmpfs that can be filled to the brim and
 * emptied again, and a way to find the child processes a CLI run left behind.
 */
export interface SmallDisk {
  path: string;
  /** Take all free space but `leaveBytes` with a filler file. */
  fill(leaveBytes?: number): Promise<void>;
  /** Remove the filler: the space is back. */
  unfill(): Promise<void>;
  unmount(): Promise<void>;
}

export async function mountSmallDisk(path: string, sizeMb: number): Promise<SmallDisk> {
  await mkdir(path, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeMb}m,mode=0755`, "tmpfs", path]);
  const filler = join(path, "filler");
  return {
    path,
    async fill(leaveBytes = 64 * 1024) {
      const s = await statfs(path);
      const free = Number(s.bavail) * Number(s.bsize);
      if (free > leaveBytes) await writeFile(filler, Buffer.alloc(free - leaveBytes));
    },
    unfill: () => rm(filler, { force: true }),
    async unmount() {
      execFileSync("umount", ["-l", path]);
      await rm(path, { recursive: true, force: true });
    },
  };
}

/** A mark put into a CLI's environment: every process it starts inherits it (pg_dump, pg_basebackup). */
export function processMark(): { env: Record<string, string>; value: string } {
  const value = randomUUID();
  return { env: { HOLDFAST_TEST_MARK: value }, value };
}

/** Processes still alive whose environment carries the mark (read from /proc, as root). */
export async function markedProcesses(mark: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const environ = await readFile(`/proc/${pid}/environ`).catch(() => undefined);
    if (!environ?.includes(`HOLDFAST_TEST_MARK=${mark}`)) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const state = /State:\s*(\S)/.exec(await readFile(`/proc/${pid}/status`, "utf8").catch(() => ""))?.[1];
    if (state !== "Z") found.push(`${pid} ${cmd.split("\0").join(" ").trim()}`);
  }
  return found;
}

export interface TimedRun extends RunResult {
  ms: number;
  /** The run had to be killed at the limit: it hung. */
  hung: boolean;
}

/**
 * Run the CLI with a time limit; a run still going at the limit is killed (SIGKILL) and reported
 * as hung. `onStderr` sees the output as it arrives (to inject a fault at the right moment).
 */
export function runCliWithin(args: string[], limitMs: number, options: RunOptions & { onStderr?: (text: string) => void } = {}): Promise<TimedRun> {
  const started = Date.now();
  const child = startCli(args, options);
  child.stdin!.end();
  let stdout = "";
  let stderr = "";
  let hung = false;
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
    options.onStderr?.(stderr);
  });
  const timer = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, limitMs);
  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, ms: Date.now() - started, hung });
    });
  });
}

/** Lock files left in a local repository. */
export async function lockFiles(repo: string): Promise<string[]> {
  return (await readdir(join(repo, "locks"), { recursive: true }).catch(() => [] as string[])).map(String);
}

/** Multipart parts s3rver holds on disk (under …_uploads/…/<n>): more than before = an upload is under way. */
export async function multipartParts(root: string): Promise<number> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && /_uploads/.test(e.parentPath ?? "") && /^\d+$/.test(e.name)).length;
}
