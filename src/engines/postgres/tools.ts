import { spawn, type ChildProcess } from "node:child_process";
import type { Writable } from "node:stream";
import { existsSync, readdirSync } from "node:fs";
import { delimiter, join } from "node:path";
import { HoldfastError } from "../../errors.js";

export type PgTool = "pg_dump" | "pg_restore";

/**
 * Where PostgreSQL binaries come from: HOLDFAST_PG_BIN when set (and nothing else), otherwise
 * Debian's /usr/lib/postgresql/<major>/bin — only `major` when given (pg_ctl must match a data
 * directory's PG_VERSION), else newest first because pg_dump must be at least as new as the server
 * and pg_restore at least as new as the dump — otherwise PATH.
 */
export function findPostgresBinary(tool: string, options: { major?: number; hint: string }): string {
  const pinned = process.env.HOLDFAST_PG_BIN;
  const candidates: string[] = [];
  if (pinned) candidates.push(join(pinned, tool));
  else {
    const root = "/usr/lib/postgresql";
    if (existsSync(root)) {
      const majors = readdirSync(root)
        .filter((d) => /^\d+$/.test(d) && (options.major === undefined || Number(d) === options.major))
        .sort((a, b) => Number(b) - Number(a));
      for (const m of majors) candidates.push(join(root, m, "bin", tool));
    }
    for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir) candidates.push(join(dir, tool));
  }
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    const which = `${tool}${options.major ? ` for PostgreSQL ${options.major}` : ""}`;
    throw new HoldfastError("TOOL_MISSING", `${which} not found${pinned ? ` in HOLDFAST_PG_BIN=${pinned}` : " (looked in /usr/lib/postgresql/*/bin and PATH)"}`, { hint: options.hint });
  }
  return found;
}

export function findTool(tool: PgTool): string {
  return findPostgresBinary(tool, { hint: "install the PostgreSQL client tools (apt-get install postgresql-client)" });
}

export interface ToolVersion {
  text: string;
  major: number;
}

/** "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → 15.18 / 15. */
export async function toolVersion(path: string): Promise<ToolVersion> {
  const { stdout, code } = await runTool(path, ["--version"], { env: process.env });
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(stdout);
  if (code !== 0 || !match) throw new HoldfastError("TOOL_MISSING", `cannot run ${path} --version`);
  return { text: match[2] === undefined ? match[1]! : `${match[1]}.${match[2]}`, major: Number(match[1]) };
}

export function majorOf(version: string): number {
  return Number(/^(\d+)/.exec(version)?.[1] ?? 0);
}

/** A running tool: argument array (no shell), stderr collected (bounded), killed on abort. */
export interface RunningTool {
  child: ChildProcess;
  /** Resolves with the exit code and the tail of stderr once the process has exited. */
  done: Promise<{ code: number; stderr: string }>;
}

export function startTool(path: string, args: string[], options: { env: NodeJS.ProcessEnv; signal?: AbortSignal; stdin?: "pipe" | "ignore"; cwd?: string }): RunningTool {
  const child = spawn(path, args, { env: options.env, stdio: [options.stdin ?? "ignore", "pipe", "pipe"], cwd: options.cwd });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 64_000) stderr = stderr.slice(-32_000);
  });
  const kill = (): void => terminate(child);
  options.signal?.addEventListener("abort", kill, { once: true });
  const done = new Promise<{ code: number; stderr: string }>((resolve) => {
    child.on("error", (err) => resolve({ code: 127, stderr: stderr + err.message }));
    child.on("close", (code, signal) => {
      options.signal?.removeEventListener("abort", kill);
      resolve({ code: code ?? (signal ? 128 : 1), stderr });
    });
  });
  return { child, done };
}

/** SIGTERM now, SIGKILL if it is still there after `graceMs`: a stuck tool cannot outlive its command. */
export function terminate(child: ChildProcess, graceMs = 3000): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }, graceMs);
  timer.unref();
  child.once("exit", () => clearTimeout(timer));
}

/**
 * Stream the tool's stdout into `consumer`. When the consumer fails or closes before that output
 * ended (storage full, upload failed, the pipeline gave up), the tool is stopped: left alone it
 * would block on a full pipe forever and its `done` would never settle.
 */
export function pipeOutput(tool: RunningTool, consumer: Writable, options: { end?: boolean } = {}): void {
  const stdout = tool.child.stdout!;
  let ended = false;
  stdout.once("end", () => (ended = true));
  const abandon = (): void => {
    if (ended) return;
    stdout.unpipe(consumer);
    stdout.resume(); // drain what is buffered so the child's "close" can follow its exit
    terminate(tool.child);
  };
  consumer.once("close", abandon);
  consumer.once("error", abandon);
  stdout.once("error", (err) => consumer.destroy(err));
  stdout.pipe(consumer, { end: options.end ?? true });
}

/** Holdfast's own secrets in its environment: no PostgreSQL tool or server it starts inherits them. */
export function withoutHoldfastSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy.HOLDFAST_PASSPHRASE;
  delete copy.HOLDFAST_NEW_PASSPHRASE;
  return copy;
}

export async function runTool(path: string, args: string[], options: { env: NodeJS.ProcessEnv; signal?: AbortSignal; cwd?: string }): Promise<{ code: number; stdout: string; stderr: string }> {
  const tool = startTool(path, args, options);
  let stdout = "";
  tool.child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  const { code, stderr } = await tool.done;
  return { code, stdout, stderr };
}

/** The login name of a uid (default: this process's user), or undefined when it has none. */
export async function userName(uid?: number): Promise<string | undefined> {
  const { code, stdout } = await runTool("id", uid === undefined ? ["-nu"] : ["-nu", String(uid)], { env: process.env, cwd: "/" });
  return code === 0 && stdout.trim() ? stdout.trim() : undefined;
}

/** Turn a failed tool's stderr into the error family (first meaningful lines only). */
export function toolFailure(tool: string, code: number, stderr: string, where: string): HoldfastError {
  const lines = stderr.split("\n").map((l) => l.trim()).filter(Boolean);
  const summary = lines.filter((l) => /error|fatal|could not|failed/i.test(l)).slice(0, 3).join(" | ") || lines.slice(-2).join(" | ") || `exit code ${code}`;
  if (/No space left on device|could not extend file|disk full/i.test(stderr)) {
    return new HoldfastError("NO_SPACE", `${tool} ran out of disk space for ${where}: ${summary}`, { hint: "free space or set HOLDFAST_TMPDIR to a larger volume" });
  }
  if (/password authentication failed|no password supplied/i.test(stderr)) return new HoldfastError("AUTH_FAILED", `${tool}: authentication failed for ${where}`);
  if (/certificate verify failed|server certificate for .* does not match host name|root certificate file .* does not exist|SSL error|SSL SYSCALL/i.test(stderr)) {
    return new HoldfastError("CONNECTION_FAILED", `${tool}: TLS failed for ${where}: ${summary}`, { hint: "check sslmode and sslrootcert (the CA that signed the server's certificate)" });
  }
  if (/server version mismatch|aborting because of server version mismatch/i.test(stderr)) {
    return new HoldfastError("TOOL_VERSION", `${tool} is older than the server of ${where}: ${summary}`);
  }
  if (/unsupported version .* in file header/i.test(stderr)) {
    return new HoldfastError("TOOL_VERSION", `${tool} is too old for this dump: ${summary}`);
  }
  return new HoldfastError(tool === "pg_restore" ? "RESTORE_FAILED" : "BACKUP_FAILED", `${tool} failed for ${where}: ${summary}`);
}
