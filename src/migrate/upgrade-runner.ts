import { spawn } from "node:child_process";
import { redact } from "../errors.js";

/** What ran the migrations, and how it ended. */
export interface RunnerOutcome {
  ok: boolean;
  /** The runner's output (stdout and stderr interleaved), its last 64 KB, secrets redacted. */
  output: string;
  /** How it ended, in a phrase ("exited with status 3", "interrupted"). */
  detail: string;
}

/**
 * The seam between `upgrade` and whatever applies the migrations: an external command today
 * (`--run`), Holdfast's own migrator as a second implementation. run() must stop promptly when
 * the signal aborts and resolve (not throw) with ok: false; the upgrade then rolls back.
 */
export interface MigrationRunner {
  /** One line for the report and the upgrade log ("external: alembic upgrade head"). */
  describe(): string;
  run(signal: AbortSignal): Promise<RunnerOutcome>;
}

const OUTPUT_LIMIT = 64 * 1024;
const KILL_GRACE_MS = 5000;

/**
 * A shell command (`sh -c`), in its own process group so an interrupt stops all it started:
 * SIGTERM to the group, SIGKILL after 5 s. The database reaches it through `env` only (never argv).
 */
export function externalRunner(command: string, env: Record<string, string>, options: { cwd?: string } = {}): MigrationRunner {
  return {
    describe: () => `external: ${command}`,
    run: (signal) =>
      new Promise((resolve) => {
        let output = "";
        const keep = (d: Buffer) => {
          output += d.toString();
          if (output.length > 2 * OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
        };
        const child = spawn("/bin/sh", ["-c", command], { env: { ...process.env, ...env }, cwd: options.cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
        child.stdout.on("data", keep);
        child.stderr.on("data", keep);
        let interrupted = false;
        const group = (sig: NodeJS.Signals) => {
          try {
            if (child.pid) process.kill(-child.pid, sig);
          } catch {
            // already gone
          }
        };
        const stop = () => {
          interrupted = true;
          group("SIGTERM");
          setTimeout(() => group("SIGKILL"), KILL_GRACE_MS).unref();
        };
        if (signal.aborted) stop();
        else signal.addEventListener("abort", stop, { once: true });
        const finish = (ok: boolean, detail: string) => {
          signal.removeEventListener("abort", stop);
          resolve({ ok, output: redact(output.slice(-OUTPUT_LIMIT)), detail });
        };
        child.on("error", (err) => finish(false, `could not start: ${err.message}`));
        child.on("close", (code, sig) => {
          if (interrupted) finish(false, "interrupted");
          else if (code === 0) finish(true, "exited with status 0");
          else finish(false, sig ? `killed by ${sig}` : `exited with status ${code}`);
        });
      }),
  };
}
