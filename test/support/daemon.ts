import type { ChildProcess } from "node:child_process";
import { startCli } from "./cli.js";
import { waitFor } from "./http.js";

/** A daemon child process started by the built CLI, with everything it printed so far. */
export interface RunningDaemon {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Send `signal` (SIGTERM by default) and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL when still running (afterAll). */
  kill(): void;
}

/**
 * `holdfast daemon --config <config>` with the repository and passphrase only from the config (not
 * the test's environment); waits until it prints "listening on" unless `listen: false`.
 */
export async function startDaemon(config: string, options: { listen?: boolean; env?: Record<string, string | undefined>; user?: string } = {}): Promise<RunningDaemon> {
  const child = startCli(["daemon", "--config", config], { env: { HOLDFAST_PASSPHRASE_FILE: undefined, HOLDFAST_REPO: undefined, ...options.env }, user: options.user });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const daemon: RunningDaemon = {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    stop(signal = "SIGTERM") {
      if (child.exitCode !== null) return Promise.resolve(child.exitCode);
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill(signal);
      return exited;
    },
    kill() {
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
  if (options.listen !== false) {
    await waitFor("the daemon to listen", () => stdout.includes("listening on") || (child.exitCode !== null ? Promise.reject(new Error(stderr)) : false), 30_000);
  }
  return daemon;
}
