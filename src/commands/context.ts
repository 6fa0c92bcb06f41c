import { hostname } from "node:os";
import pino, { type Logger } from "pino";
import { MANIFEST_FORMAT_VERSION, type BackupKind } from "../repository/manifest.js";
import { HOLDFAST_VERSION } from "../version.js";

export interface ProgressHandle {
  /** Bytes (or rows) done; `rows` adds a row count to a bar of bytes (an export's table). */
  update(done: number, rows?: number): void;
  stop(): void;
}

/** What a command gets from whichever door (CLI, daemon, library caller) invoked it. */
export interface CommandContext {
  log: Logger;
  /** A progress display for a long step; total in bytes (or rows, with unit "rows") when known. */
  progress(label: string, total?: number, unit?: "bytes" | "rows"): ProgressHandle;
  signal?: AbortSignal;
}

const NO_PROGRESS: ProgressHandle = { update: () => undefined, stop: () => undefined };

/** For library callers: silent logs, no progress. */
export function quietContext(signal?: AbortSignal): CommandContext {
  return { log: pino({ level: "silent" }), progress: () => NO_PROGRESS, signal };
}

export { HOLDFAST_VERSION };

export const HOST = { hostname: hostname(), platform: `${process.platform}-${process.arch}` };

/** The fields every manifest shares, filled in the same way for every kind of backup. */
export function manifestEnvelope(args: { id: string; kind?: BackupKind; engine: string; source: { uri: string; version: string; sizeBytes: number }; labels: Record<string, string>; started: Date; finished: Date }) {
  return {
    formatVersion: MANIFEST_FORMAT_VERSION,
    id: args.id,
    kind: args.kind ?? ("full" as const),
    engine: args.engine,
    source: args.source,
    labels: args.labels,
    startedAt: args.started.toISOString(),
    finishedAt: args.finished.toISOString(),
    durationMs: args.finished.getTime() - args.started.getTime(),
    holdfast: { version: HOLDFAST_VERSION },
    host: HOST,
  };
}
