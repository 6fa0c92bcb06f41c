import { availableParallelism } from "node:os";
import { HoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { engineForSource } from "../engines/registry.js";
import { FILE_EXTENSION } from "../pipeline/compression.js";
import { storeStream } from "../pipeline/assemble.js";
import { dataKey } from "../repository/layout.js";
import { acquireLock, scopeFor, type HeldLock } from "../repository/lock.js";
import type { BackupKind, Manifest } from "../repository/manifest.js";
import { Repository } from "../repository/repository.js";
import { openBackend } from "../storage/open.js";
import { copyToSecondaries } from "./copy.js";
import { sweepStaleUploads } from "./check.js";
import { manifestEnvelope, type CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";
import { repositoryContext } from "./repository-context.js";
import { storeSnapshotFiles } from "./store-files.js";

export interface BackupRequest {
  source: string;
  settings: Settings;
  labels?: Record<string, string>;
  /** Engine-specific options (see each engine); validated by the engine. */
  engineOptions?: Record<string, unknown>;
  /** Default: full, or partial / schema-only as the engine's facts say. Safety backups say "safety". */
  kind?: BackupKind;
  /** The caller already holds this source's lock (an in-place restore taking its safety backup). */
  lockHeld?: boolean;
  /** "physical": a base backup of a PostgreSQL server (point-in-time recovery) instead of pg_dump. */
  type?: string;
}

/**
 * Snapshot the source and store it: data files first, the manifest last. Until the manifest is
 * written nothing is visible; on any failure the files written so far are removed.
 */
export async function backup(req: BackupRequest, ctx: CommandContext): Promise<Manifest> {
  await sweepStaleUploads(req.settings, ctx);
  const manifest = await storeBackup(req, ctx);
  // After the lock is released: the backup is complete whatever happens to its offsite copies.
  // A base backup goes with its archived WAL (copyManifests copies it first).
  if (req.settings.copyTo?.length) await copyToSecondaries(await Repository.open(openBackend(req.settings.repo, { s3: req.settings.s3 })), manifest, req.settings, ctx);
  return manifest;
}

/** The backup itself, without the housekeeping around it (stale-upload sweep, offsite copies). */
export async function storeBackup(req: BackupRequest, ctx: CommandContext): Promise<Manifest> {
  const { engine, ref } = engineForSource(req.source, req.type);
  const sourceUri = engine.describe(ref);
  // Writing needs only the repository's public key: no passphrase, no scrypt (and its 256 MB).
  const { repo } = await openRepository(req.settings, "no");
  const recipients = repo.recipients;
  const scope = scopeFor(engine.lockSpace ? `${engine.lockSpace}:${sourceUri}` : sourceUri);
  const lock: HeldLock | undefined = req.lockHeld ? undefined : await acquireLock(repo.backend, scope, `backup of ${sourceUri}`, { waitMs: req.settings.lockWaitMs, signal: ctx.signal });
  const signal = lock ? AbortSignal.any([lock.signal, ...(ctx.signal ? [ctx.signal] : [])]) : ctx.signal;
  const started = new Date();
  let id: string | undefined;
  try {
    const kind = req.kind ?? intendedKind(req.engineOptions);
    id = (await repo.reserveId(started, { engine: engine.name, source: sourceUri, kind, lockScope: scope }, signal)).id;
    ctx.log.info({ id, source: sourceUri, kind, repo: repo.backend.location }, "backup started");
    const snapshot = await (await engine.load()).snapshot(ref, {
      tempDir: req.settings.tmpDir,
      signal,
      options: req.engineOptions,
      backupId: id,
      repository: repositoryContext(repo, undefined, req.settings),
      log: ctx.log,
    });
    const backupId = id;
    try {
      const compression = { ...req.settings.compression, threads: req.settings.compression.threads ?? zstdThreadsPerFile(snapshot.parallel) };
      const files = await storeSnapshotFiles(snapshot, { ...ctx, signal }, (file, fileSignal, onProgress) => {
        const storedName = `${file.name}${file.extension}${FILE_EXTENSION[req.settings.compression.algorithm]}${recipients ? ".age" : ""}`;
        return storeStream(file.stream, repo.backend, file.name, dataKey(backupId, storedName), {
          compression,
          recipients,
          signal: fileSignal,
          onProgress,
        });
      });
      const facts = await snapshot.facts;
      for (const w of facts.warnings ?? []) ctx.log.warn({ id: backupId, source: sourceUri, journalMode: facts.details.journalMode, writersBlockedMs: facts.details.writersBlockedMs }, w);
      const finished = new Date();
      const manifest: Manifest = {
        ...manifestEnvelope({
          id: backupId,
          kind,
          engine: engine.name,
          source: { uri: sourceUri, version: facts.version, sizeBytes: facts.sizeBytes },
          labels: { ...req.settings.labels, ...req.labels },
          started,
          finished,
        }),
        files,
        tables: facts.tables,
        details: facts.details,
      };
      await repo.commit(manifest);
      if (facts.details.integrityCheck !== undefined && facts.details.integrityCheck !== "ok") {
        ctx.log.warn({ id, integrityCheck: facts.details.integrityCheck }, "the source database fails integrity_check; the backup records it");
      }
      ctx.log.info({ id, storedBytes: files.reduce((s, f) => s + f.storedBytes, 0), durationMs: manifest.durationMs }, "backup complete");
      return manifest;
    } finally {
      await snapshot.dispose();
    }
  } catch (err) {
    if (id) await repo.removeIncomplete(id);
    throw err;
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

/** Files stored side by side share the cores: zstd's own default (all of them) for one file at a time. */
function zstdThreadsPerFile(parallel: number | undefined): number | undefined {
  if (!parallel || parallel <= 1) return undefined;
  return Math.max(1, Math.floor(availableParallelism() / parallel));
}

/** What a backup with these engine options is: the engine's facts refine nothing else. */
function intendedKind(options: Record<string, unknown> | undefined): BackupKind {
  if (!options) return "full";
  if (options.schemaOnly) return "schema-only";
  const listed = (v: unknown) => Array.isArray(v) && v.length > 0;
  if (options.dataOnly || listed(options.tables) || listed(options.excludeTables)) return "partial";
  return "full";
}


export function assertEngine(manifest: Manifest, engineName: string): void {
  if (manifest.engine !== engineName) {
    throw new HoldfastError("ENGINE_MISMATCH", `backup ${manifest.id} is a ${manifest.engine} backup and cannot be restored to a ${engineName} target`);
  }
}
