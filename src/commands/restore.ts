import { HoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { engineByName, engineForTarget, loadEngine, isPlainPath, pathTargetEngines, targetForBackup } from "../engines/registry.js";
import type { RestoreOutcome } from "../engines/engine.js";
import { openStoredFile } from "../pipeline/assemble.js";
import { kindOf, type BackupKind, type Manifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import { acquireLock, scopeFor } from "../repository/lock.js";
import { markInUse } from "../repository/in-use.js";
import { manifestKey } from "../repository/layout.js";
import { pickLatest } from "../repository/selection.js";
import { resolveSourceRef } from "./source-ref.js";
import type { AgeKeys } from "../pipeline/age.js";
import { assertEngine } from "./backup.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";
import { repositoryContext } from "./repository-context.js";
import { withSecondaryFallback, type Fallback } from "./secondary.js";
import { safetyBackup } from "./safety-backup.js";

export interface RestoreRequest {
  ref: string;
  /** Which source `latest` means (URI, file path or database name); default: the in-place target's, or the only one. */
  source?: string;
  /** Target; for --in-place defaults to the backup's own source. */
  to?: string;
  inPlace: boolean;
  settings: Settings;
  /** Engine-specific options (jobs, clean, no-owner, role, …; physical: the recovery target, replace, archive). */
  engineOptions?: Record<string, unknown>;
  /** "physical": `latest` means a physical base backup (point-in-time restore into a data directory). */
  type?: string;
}

export interface RestoreResult extends RestoreOutcome {
  backupId: string;
  /** The engine that restored it. */
  engine: string;
  /** The source the backup was taken of, and its kind. */
  source: string;
  kind: BackupKind;
  /** Safety backup taken of the target before it was replaced or cleaned. */
  safetyBackupId?: string;
  /** The command's wall time, from start to the target in place. */
  durationMs: number;
  /** Set when the primary failed and an offsite copy served the restore. */
  fallback?: Fallback;
}

/** Restore from the repository, or from a copy_to secondary when the primary fails (see secondary.ts). */
export async function restore(req: RestoreRequest, ctx: CommandContext): Promise<RestoreResult> {
  const started = Date.now();
  const result = await withSecondaryFallback(req.settings, ctx, (settings) => restoreFrom({ ...req, settings }, ctx));
  return { ...result, durationMs: Date.now() - started };
}

async function restoreFrom(req: RestoreRequest, ctx: CommandContext): Promise<Omit<RestoreResult, "durationMs">> {
  const { repo, keys } = await openRepository(req.settings, "required");
  const manifest = await chooseBackup(repo, req);
  const targetText = req.to ?? (req.inPlace ? manifest.source.uri : undefined);
  if (!targetText) throw new HoldfastError("USAGE", "say where to restore: --to <target> (or --in-place to replace the backed-up database)");
  const { engine, ref } = targetForBackup(manifest.engine, targetText);
  assertEngine(manifest, engine.name);
  const target = engine.describe(ref);
  const clean = Boolean(req.engineOptions?.clean);
  // Replacing or cleaning a database: hold its source lock throughout (no backup or second restore
  // of it meanwhile), and mark the backup in use so a concurrent prune leaves it alone.
  const replacing = req.inPlace || clean;
  const lock = replacing ? await acquireLock(repo.backend, scopeFor(target), `restore into ${target}`, { waitMs: req.settings.lockWaitMs, signal: ctx.signal }) : undefined;
  const reading = await markInUse(repo.backend, manifest.id, `restore of ${manifest.id} into ${target}`, ctx.signal).catch((err: unknown) => {
    void lock?.release();
    throw err;
  });
  try {
    if (!(await repo.backend.stat(manifestKey(manifest.id)))) {
      throw new HoldfastError("BACKUP_NOT_FOUND", `backup ${manifest.id} was removed (by prune) while the restore started`, { hint: "choose another backup; `holdfast list`" });
    }
    ctx.log.info({ id: manifest.id, source: manifest.source.uri, target, inPlace: req.inPlace }, "restore started");
    // Databases on a server get a safety backup in the repository first (SQLite keeps a safety file itself).
    const safetyBackupId = replacing && engine.safetyBackupInRepository ? await safetyBackup(targetText, manifest.id, req.settings, ctx) : undefined;
    const outcome = await (await engine.load()).restore(fileOpener(repo, manifest, keys, ctx), manifest, ref, {
      inPlace: req.inPlace,
      tempDir: req.settings.tmpDir,
      signal: ctx.signal,
      options: safetyBackupId ? { ...req.engineOptions, safetyBackupId } : req.engineOptions,
      repository: repositoryContext(repo, keys, req.settings),
      log: ctx.log,
    });
    for (const w of (outcome.check.details.warnings as string[] | undefined) ?? []) ctx.log.warn({ id: manifest.id }, w);
    ctx.log.info({ id: manifest.id, source: manifest.source.uri, target: outcome.target, safetyCopy: outcome.safetyCopy }, "restore complete");
    return { ...outcome, backupId: manifest.id, engine: manifest.engine, source: manifest.source.uri, kind: kindOf(manifest), safetyBackupId };
  } finally {
    await reading.release();
    await lock?.release();
  }
}

/**
 * The backup a restore means: an id, or `latest` of one source among the engines the request can
 * mean (--type, or the target's kind); an engine that restores to a point in time picks among
 * that source's backups by the restore's options.
 */
async function chooseBackup(repo: Repository, req: RestoreRequest): Promise<Manifest> {
  const plainTo = req.to !== undefined && isPlainPath(req.to);
  const toTarget = req.to ? engineForTarget(req.to) : undefined;
  // `latest` means one source: the one named, or the in-place target's own (never another database's).
  const source = req.source ? resolveSourceRef(req.source, req.settings) : req.inPlace && toTarget ? toTarget.engine.describe(toTarget.ref) : undefined;
  const engines = req.type === "physical" ? ["postgres-physical"] : plainTo ? pathTargetEngines() : toTarget ? [toTarget.engine.name] : RESTORABLE_IN_PLACE;
  if (req.ref !== "latest") {
    const named = await repo.resolve(req.ref, { source, engines: req.type === "physical" ? engines : undefined, purpose: req.type === "physical" ? "a point-in-time restore" : "restore" });
    if (kindOf(named) === "export") throw new HoldfastError("USAGE", `${named.id} is an export of ${named.source.uri}, not a backup: restore cannot read it`, { hint: "an export goes back into a database with `holdfast import`" });
    return named;
  }
  // One listing serves both `latest` and, for an engine that picks by time, that source's backups.
  const { backups } = await repo.catalog();
  // `--in-place --to <plain path>`: the path's own backups, whichever engine names it (a SQLite file, a folder).
  const own = !req.source && req.inPlace && plainTo ? ownSource(req.to!, backups) : undefined;
  const newest = pickLatest(backups, { source: own ?? source, engines, purpose: "restore" });
  const engine = await loadEngine(newest.engine);
  if (!engine.pickForRestore) return newest;
  const ofSource = backups.filter((m) => m.engine === newest.engine && m.source.uri === newest.source.uri && kindOf(m) === "full");
  return engine.pickForRestore(ofSource, req.engineOptions);
}

/** The source a plain path is to the engines that take paths, among those the repository holds backups of. */
function ownSource(path: string, backups: readonly Manifest[]): string | undefined {
  const held = new Set(backups.map((m) => m.source.uri));
  return pathTargetEngines()
    .map((name) => engineByName(name))
    .map((engine) => engine.describe(engine.parse(path)))
    .find((uri) => held.has(uri));
}

/** What `latest` may mean without a target to tell: databases that can be replaced in place. */
const RESTORABLE_IN_PLACE = ["sqlite", "postgres", "files"];

/** Streams of a backup's files, each verified (stored hash, decryption, content hash) as it flows. */
export function fileOpener(repo: Repository, manifest: Manifest, keys: AgeKeys | undefined, ctx: CommandContext) {
  return async (name: string) => {
    const file = manifest.files.find((f) => f.name === name);
    if (!file) throw new HoldfastError("CORRUPTED", `backup ${manifest.id} has no file "${name}"`);
    const bar = ctx.progress(`restore ${name}`, file.storedBytes);
    const stream = await openStoredFile(repo.backend, file, { keys, signal: ctx.signal, onProgress: (n) => bar.update(n) });
    stream.once("close", () => bar.stop());
    return stream;
  };
}

export { engineByName };
