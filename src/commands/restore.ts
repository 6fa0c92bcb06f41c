import { HoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { engineByName, engineForSource } from "../engines/registry.js";
import type { RestoreOutcome } from "../engines/engine.js";
import { openStoredFile } from "../pipeline/assemble.js";
import type { Manifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import type { AgeKeys } from "../pipeline/age.js";
import { assertEngine } from "./backup.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";
import { withSecondaryFallback, type Fallback } from "./secondary.js";
import { safetyBackup } from "./safety-backup.js";

export interface RestoreRequest {
  ref: string;
  /** Target; for --in-place defaults to the backup's own source. */
  to?: string;
  inPlace: boolean;
  settings: Settings;
  /** Engine-specific options (jobs, clean, no-owner, role, …). */
  engineOptions?: Record<string, unknown>;
}

export interface RestoreResult extends RestoreOutcome {
  backupId: string;
  durationMs: number;
  /** Set when the primary failed and an offsite copy served the restore. */
  fallback?: Fallback;
}

/** Restore from the repository, or from a copy_to secondary when the primary fails (see secondary.ts). */
export async function restore(req: RestoreRequest, ctx: CommandContext): Promise<RestoreResult> {
  return withSecondaryFallback(req.settings, ctx, (settings) => restoreFrom({ ...req, settings }, ctx));
}

async function restoreFrom(req: RestoreRequest, ctx: CommandContext): Promise<RestoreResult> {
  const { repo, keys } = await openRepository(req.settings, "required");
  const manifest = await repo.resolve(req.ref);
  if (manifest.engine === "postgres-physical") {
    throw new HoldfastError("USAGE", `backup ${manifest.id} is a physical base backup`, { hint: `restore it with: holdfast restore ${manifest.id} --type physical --to <new data directory> [--target-time …]` });
  }
  const targetText = req.to ?? (req.inPlace ? manifest.source.uri : undefined);
  if (!targetText) throw new HoldfastError("USAGE", "say where to restore: --to <target> (or --in-place to replace the backed-up database)");
  const { engine, ref } = engineForSource(manifest.engine === "sqlite" && !targetText.includes(":") ? `sqlite:${targetText}` : targetText);
  assertEngine(manifest, engine.name);
  const started = Date.now();
  ctx.log.info({ id: manifest.id, target: engine.describe(ref), inPlace: req.inPlace }, "restore started");
  // Databases on a server get a safety backup in the repository first (SQLite keeps a safety file itself).
  const safetyBackupId = req.inPlace && engine.name === "postgres" ? await safetyBackup(targetText, manifest.id, req.settings, ctx) : undefined;
  const outcome = await engine.restore(fileOpener(repo, manifest, keys, ctx), manifest, ref, {
    inPlace: req.inPlace,
    tempDir: req.settings.tmpDir,
    signal: ctx.signal,
    options: safetyBackupId ? { ...req.engineOptions, safetyBackupId } : req.engineOptions,
  });
  const durationMs = Date.now() - started;
  ctx.log.info({ id: manifest.id, target: outcome.target, safetyCopy: outcome.safetyCopy, durationMs }, "restore complete");
  return { ...outcome, backupId: manifest.id, durationMs };
}

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
