import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { HoldfastError } from "../../../errors.js";
import { backupHistoryName, formatLsn, segmentName, segmentOfLsn } from "../../../wal/names.js";
import type { OperationContext, RepositoryContext, Snapshot, SnapshotFile, SourceFacts } from "../../engine.js";
import { describePg, type PgRef } from "../connection.js";
import { assertArchiving, readPhysicalFacts, startBaseBackup, withPhysicalClient, type PhysicalFacts, type RunningBaseBackup } from "./basebackup.js";
import { captureConfig, type CapturedConfig } from "./config-capture.js";

/** How long a base backup waits for its WAL to reach the repository unless told (options.walWaitMs). */
const WAL_WAIT_MS = 120_000;

/**
 * A base backup: pg_basebackup's tar as the file "base" (stored base.tar…), then the server's
 * configuration files kept outside the data directory, read before the backup starts
 * ("config-postgresql.conf", … see config-capture.ts), and facts that
 * settle only once every WAL segment needed to make it consistent (start to stop segment, and the
 * .backup history file) has been archived into this repository — before the manifest makes it exist.
 */
export async function snapshotPhysical(ref: PgRef, ctx: OperationContext): Promise<Snapshot> {
  const where = describePg(ref);
  const repository = requireRepository(ctx.repository, "a base backup");
  const { facts, config } = await withPhysicalClient(ref, async (client) => {
    const read = await readPhysicalFacts(client, ref);
    assertArchiving(read, where);
    return { facts: read, config: await captureConfig(client, read.systemIdentifier) };
  });
  const walWaitMs = Number(ctx.options?.walWaitMs ?? WAL_WAIT_MS);
  const running = await startBaseBackup(ref, { tempDir: ctx.tempDir, label: `holdfast ${ctx.backupId ?? ""}`.trim(), signal: ctx.signal });
  let markStored!: () => void;
  const stored = new Promise<void>((resolve) => (markStored = resolve));
  const result = settle(running, facts, config, repository, stored, { where, walWaitMs, ctx });
  result.catch(() => undefined); // observed by the caller
  async function* files(): AsyncGenerator<SnapshotFile> {
    yield { name: "base", extension: ".tar", stream: running.stream };
    for (const { name, content } of config.contents) yield { name, extension: "", stream: Readable.from([content]), size: content.length };
    markStored();
  }
  let disposed = false;
  return {
    files: files(),
    facts: result,
    async dispose() {
      if (disposed) return;
      disposed = true;
      running.stream.destroy();
      await running.done.catch(() => undefined);
      await running.cleanup();
    },
  };
}

export function requireRepository(repository: RepositoryContext | undefined, what: string): RepositoryContext {
  if (!repository) throw new HoldfastError("INTERNAL", `${what} needs the repository's WAL archive, and none was given`);
  return repository;
}

async function settle(running: RunningBaseBackup, facts: PhysicalFacts, config: CapturedConfig, repository: RepositoryContext, stored: Promise<void>, o: { where: string; walWaitMs: number; ctx: OperationContext }): Promise<SourceFacts> {
  await running.done;
  await stored;
  const consistentAt = new Date();
  const { startLsn, stopLsn, timeline } = running.walRange();
  const seg = facts.walSegmentSize;
  const historyFile = backupHistoryName(timeline, startLsn, seg);
  const needed = [historyFile];
  for (let n = segmentOfLsn(startLsn, seg); n <= segmentOfLsn(Math.max(startLsn, stopLsn - 1), seg); n++) needed.push(segmentName(timeline, n, seg));
  await waitForWal(repository, needed, o.walWaitMs, o.where, o.ctx);
  o.ctx.log?.info({ startLsn: formatLsn(startLsn), stopLsn: formatLsn(stopLsn), timeline }, "base backup's WAL archived");
  return {
    version: facts.version,
    sizeBytes: facts.sizeBytes,
    tables: [],
    details: {
      systemIdentifier: facts.systemIdentifier,
      timeline,
      startLsn: formatLsn(startLsn),
      stopLsn: formatLsn(stopLsn),
      walSegmentSize: seg,
      walStart: needed[1],
      walStop: needed.at(-1),
      backupHistoryFile: historyFile,
      /** Taken after pg_basebackup returned: every moment from here on can be a recovery target. */
      consistentAt: consistentAt.toISOString(),
      configFiles: config.files,
      ...(config.warnings.length ? { configWarnings: config.warnings } : {}),
    },
    ...(config.warnings.length ? { warnings: config.warnings } : {}),
  };
}

async function waitForWal(repository: RepositoryContext, names: string[], timeoutMs: number, where: string, ctx: OperationContext): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(names);
  for (;;) {
    for (const name of [...pending]) if (await repository.wal.record(name)) pending.delete(name);
    if (pending.size === 0) return;
    if (Date.now() >= deadline) {
      throw new HoldfastError("ARCHIVING_NOT_SET_UP", `the WAL this base backup needs has not reached the repository within ${Math.round(timeoutMs / 1000)} s (missing ${[...pending].slice(0, 3).join(", ")}${pending.size > 3 ? ", …" : ""})`, {
        hint: `check archiving on ${where}: holdfast setup-archiving <url> shows pg_stat_archiver's failures; the backup was not committed`,
      });
    }
    ctx.log?.debug({ pending: [...pending] }, "waiting for WAL to be archived");
    await sleep(300, undefined, { signal: ctx.signal });
  }
}
