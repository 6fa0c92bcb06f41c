import { spawn, type ChildProcess } from "node:child_process";

/**
 * A byte copy of a file made by a separate process, started ahead of time and told when to copy.
 *
 * Used for rollback-journal databases while this process holds a SHARED lock: the file cannot
 * change until the lock is released, so its bytes are a consistent snapshot, and a kernel copy
 * (copy_file_range) is several times faster than the page-by-page backup API followed by an
 * fsync of the copy — every millisecond of which writers spend blocked. The copy runs in another
 * process because closing any descriptor of the database file in this process would drop the
 * POSIX locks SQLite holds on it.
 */
const SCRIPT = `
const { copyFileSync, constants } = require("node:fs");
process.stdin.once("data", () => {
  try { copyFileSync(process.argv[1], process.argv[2], constants.COPYFILE_EXCL); }
  catch (err) { process.stderr.write(String(err && err.message || err)); process.exit(1); }
  process.exit(0);
});
process.stdout.write("ready\\n");`;

export interface FileCopier {
  /** Resolves once the process is started and waiting (so the copy itself starts at once). */
  ready: Promise<void>;
  /** Copy now; resolves when the copy is complete. */
  copy(): Promise<void>;
  /** Stop the process if the copy was never asked for or failed. */
  kill(): void;
}

export function prepareFileCopy(from: string, to: string): FileCopier {
  const child: ChildProcess = spawn(process.execPath, ["-e", SCRIPT, from, to], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<void>((res, rej) => {
    child.once("error", rej);
    child.once("exit", (code, signal) => {
      if (code === 0) res();
      else rej(new Error(`copying ${from} failed: ${stderr.trim() || `exit ${code ?? signal}`}`));
    });
  });
  done.catch(() => undefined);
  const ready = new Promise<void>((res, rej) => {
    child.stdout!.once("data", () => res());
    done.then(() => rej(new Error(`copying ${from} failed: the copy process ended early`)), rej);
  });
  ready.catch(() => undefined);
  return {
    ready,
    copy: () => {
      child.stdin!.end("go\n");
      return done;
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
