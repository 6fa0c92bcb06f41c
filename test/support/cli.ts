import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const CLI = resolve(import.meta.dirname, "../../dist/cli/main.js");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
  /** Run as this OS user (the tests run as root), e.g. the PostgreSQL server's user. */
  user?: string;
}

/** Run the real CLI as a child process; never throws on a non-zero exit. */
export function runCli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = startCli(args, options);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    if (options.input !== undefined) child.stdin!.end(options.input);
    else child.stdin!.end();
  });
}

export function startCli(args: string[], options: RunOptions = {}): ChildProcess {
  const env: Record<string, string | undefined> = { ...process.env, HOLDFAST_LOG_FORMAT: "json", ...options.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  // Signals reach the CLI itself (runuser would end it two seconds after a SIGTERM).
  const ids = options.user ? { uid: Number(execFileSync("id", ["-u", options.user]).toString()), gid: Number(execFileSync("id", ["-g", options.user]).toString()) } : {};
  return spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: env as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"], ...ids });
}

/** A scratch folder with a repository already initialised (fast scrypt so tests stay quick). */
export interface Workspace {
  dir: string;
  repo: string;
  passphraseFile: string;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export async function workspace(options: { encryption?: "age" | "none" } = {}): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), "holdfast-test-"));
  const repo = join(dir, "repo");
  const passphraseFile = join(dir, "passphrase.txt");
  await writeFile(passphraseFile, "correct horse battery staple\n", { mode: 0o600 });
  const env = { HOLDFAST_REPO: repo, HOLDFAST_PASSPHRASE_FILE: passphraseFile, HOLDFAST_TMPDIR: dir };
  const init = await runCli(["repo", "init", repo, "--encryption", options.encryption ?? "age", "--scrypt-work-factor", "10"], { env });
  if (init.code !== 0) throw new Error(`repo init failed: ${init.stderr}`);
  return { dir, repo, passphraseFile, env, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The one error line the CLI prints (without the "holdfast: error: " prefix). */
export function errorLine(result: RunResult): string {
  const line = result.stderr.split("\n").find((l) => l.startsWith("holdfast: error: "));
  return line ? line.slice("holdfast: error: ".length) : "";
}

/**
 * `holdfast key export` into the workspace, and an environment that opens the repository with that
 * identity file alone: neither passphrase variable is set.
 */
export async function identityOnlyEnv(ws: Workspace): Promise<{ identity: string; env: Record<string, string | undefined> }> {
  const identity = join(ws.dir, "identity.txt");
  const e = await runCli(["key", "export", "--out", identity], { env: ws.env });
  if (e.code !== 0) throw new Error(`key export failed (${e.code}): ${e.stderr}`);
  return { identity, env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: undefined, HOLDFAST_PASSPHRASE: undefined, HOLDFAST_IDENTITY_FILE: identity } };
}
