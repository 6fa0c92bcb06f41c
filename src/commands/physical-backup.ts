import { setTimeout as sleep } from "node:timers/promises";
import { HoldfastError, isHoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { describePg, parsePgUrl } from "../engines/postgres/connection.js";
import { PHYSICAL_ENGINE, assertArchiving, probePhysical, startBaseBackup } from "../engines/postgres/physical/basebackup.js";
import { backupHistoryName, formatLsn, segmentName, segmentOfLsn } from "../wal/names.js";
import { FILE_EXTENSION } from "../pipeline/compression.js";
import { storeStream } from "../pipeline/assemble.js";
import { dataKey } from "../repository/layout.js";
import { acquireLock, scopeFor } from "../repository/lock.js";
import type { Manifest } from "../repository/manifest.js";
import { WalArchive } from "../repository/wal-archive.js";
import { manifestEnvelope, type CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";

export interface PhysicalBackupRequest {
  source: string;
  settings: Settings;
  labels?: Record<string, string>;
  /** How long to wait for the backup's WAL to reach the repository (default 120 s). */
  walWaitMs?: number;
}

/**
 * A base backup: pg_basebackup's tar streamed through the usual pipeline, then — before the
 * manifest makes it exist — proof that every WAL segment needed to make it consistent (start to
 * stop segment, and the .backup history file) has been archived into this repository.
 */
export async function physicalBackup(req: PhysicalBackupRequest, ctx: CommandContext): Promise<Manifest> {
  const ref = parsePgUrl(req.source);
  const sourceUri = describePg(ref);
  // No key needed: data is encrypted to the public recipients and the WAL range comes from the tar.
  const { repo } = await openRepository(req.settings, "no");
  const facts = await probePhysical(ref);
  assertArchiving(facts, sourceUri);
  const lock = await acquireLock(repo.backend, scopeFor(`physical:${sourceUri}`), `physical backup of ${sourceUri}`, { waitMs: req.settings.lockWaitMs, signal: ctx.signal });
  const started = new Date();
  let id: string | undefined;
  try {
    id = (await repo.reserveId(started, { engine: PHYSICAL_ENGINE, source: sourceUri, kind: "full", lockScope: scopeFor(`physical:${sourceUri}`) }, ctx.signal)).id;
    ctx.log.info({ id, source: sourceUri, repo: repo.backend.location }, "base backup started");
    const running = await startBaseBackup(ref, { tempDir: req.settings.tmpDir, label: `holdfast ${id}`, signal: ctx.signal });
    const bar = ctx.progress("base backup");
    let file;
    try {
      const storedName = `base.tar${FILE_EXTENSION[req.settings.compression.algorithm]}${repo.recipients ? ".age" : ""}`;
      const storing = storeStream(running.stream, repo.backend, "base", dataKey(id, storedName), {
        compression: req.settings.compression,
        recipients: repo.recipients,
        signal: ctx.signal,
        onProgress: (n) => bar.update(n),
      });
      // Storing failed (disk full, S3 gone) while pg_basebackup still ran: pipeOutput has stopped it
      // (startBaseBackup), and its exit says nothing the storage error does not say better.
      let exited = false;
      let storageFailedFirst = false;
      void running.done.finally(() => (exited = true)).catch(() => undefined);
      storing.catch(() => (storageFailedFirst = !exited));
      // A pg_basebackup failure explains a short stream better than the pipeline does…
      const [stored, range] = await Promise.allSettled([storing, running.done]);
      // …unless storage itself failed (disk full, unreachable, interrupted): then pg_basebackup only saw a broken pipe.
      if (stored.status === "rejected" && (storageFailedFirst || (isHoldfastError(stored.reason) && ["NO_SPACE", "STORAGE_FAILED", "CONNECTION_FAILED", "INTERRUPTED"].includes(stored.reason.code)))) throw stored.reason;
      if (range.status === "rejected") throw range.reason;
      if (stored.status === "rejected") throw stored.reason;
      file = { stored: stored.value, range: running.walRange() };
    } finally {
      bar.stop();
      await running.cleanup();
    }
    const consistentAt = new Date();
    const { startLsn, stopLsn, timeline } = file.range;
    const seg = facts.walSegmentSize;
    const historyFile = backupHistoryName(timeline, startLsn, seg);
    const needed = [historyFile];
    for (let n = segmentOfLsn(startLsn, seg); n <= segmentOfLsn(Math.max(startLsn, stopLsn - 1), seg); n++) needed.push(segmentName(timeline, n, seg));
    const archive = new WalArchive(repo.backend);
    await waitForWal(archive, needed, req.walWaitMs ?? 120_000, sourceUri, ctx);
    const finished = new Date();
    const manifest: Manifest = {
      ...manifestEnvelope({
        id,
        engine: PHYSICAL_ENGINE,
        source: { uri: sourceUri, version: facts.version, sizeBytes: facts.sizeBytes },
        labels: { ...req.settings.labels, ...req.labels },
        started,
        finished,
      }),
      files: [file.stored],
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
      },
    };
    await repo.commit(manifest);
    ctx.log.info({ id, startLsn: formatLsn(startLsn), stopLsn: formatLsn(stopLsn), timeline, storedBytes: file.stored.storedBytes }, "base backup complete");
    return manifest;
  } catch (err) {
    if (id) await repo.removeIncomplete(id);
    throw err;
  } finally {
    await lock.release().catch(() => undefined);
  }
}

async function waitForWal(archive: WalArchive, names: string[], timeoutMs: number, where: string, ctx: CommandContext): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(names);
  for (;;) {
    for (const name of [...pending]) if (await archive.record(name)) pending.delete(name);
    if (pending.size === 0) return;
    if (Date.now() >= deadline) {
      throw new HoldfastError("ARCHIVING_NOT_SET_UP", `the WAL this base backup needs has not reached the repository within ${Math.round(timeoutMs / 1000)} s (missing ${[...pending].slice(0, 3).join(", ")}${pending.size > 3 ? ", …" : ""})`, {
        hint: `check archiving on ${where}: holdfast setup-archiving <url> shows pg_stat_archiver's failures; the backup was not committed`,
      });
    }
    ctx.log.debug({ pending: [...pending] }, "waiting for WAL to be archived");
    await sleep(300, undefined, { signal: ctx.signal });
  }
}

