import { hostname } from "node:os";
import { readFileSync } from "node:fs";
import pino, { type Logger } from "pino";

export interface ProgressHandle {
  update(done: number): void;
  stop(): void;
}

/** What a command gets from whichever door (CLI, daemon, library caller) invoked it. */
export interface CommandContext {
  log: Logger;
  /** A progress display for a long step; total in bytes when known. */
  progress(label: string, total?: number): ProgressHandle;
  signal?: AbortSignal;
}

const NO_PROGRESS: ProgressHandle = { update: () => undefined, stop: () => undefined };

/** For library callers: silent logs, no progress. */
export function quietContext(signal?: AbortSignal): CommandContext {
  return { log: pino({ level: "silent" }), progress: () => NO_PROGRESS, signal };
}

export const HOLDFAST_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
})();

export const HOST = { hostname: hostname(), platform: `${process.platform}-${process.arch}` };
