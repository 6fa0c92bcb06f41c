import { HoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { copyStoredFile } from "../repository/copy-stored.js";
import { CONFIG_KEY, backupPrefix, manifestKey } from "../repository/layout.js";
import type { Manifest } from "../repository/manifest.js";
import { Repository } from "../repository/repository.js";
import { WalArchive } from "../repository/wal-archive.js";
import type { StorageBackend } from "../storage/backend.js";
import { openBackend } from "../storage/open.js";
import { syncKeys } from "../repository/key-switch.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";
import { resolveSourceRef } from "./source-ref.js";
import { copyWal, walScopeOf, type WalCopyResult } from "./wal-copy.js";

/** How long a copy waits for another process updating the destination's keys. */
const KEY_SYNC_WAIT_MS = 30_000;

export interface CopyRequest {
  /** Backup refs ("latest", ids); ignored with all. */
  refs: string[];
  all: boolean;
  /** Bring the destination's whole WAL archive up to date too (with no refs and not all: only that). */
  wal?: boolean;
  /** Destination repository location (folder or s3://…). */
  to: string;
  /** Which source `latest` means (URI, file path or database name). */
  source?: string;
  settings: Settings;
}

export interface CopyResult {
  destination: string;
  copied: { id: string; files: number; storedBytes: number }[];
  /** Already complete at the destination. */
  skipped: string[];
  /** The archived WAL copied with base backups (or the whole archive, with wal). */
  wal?: WalCopyResult;
}

/**
 * Copy backups to a secondary repository: each file streamed and checked against its stored
 * SHA-256 on the way, then re-read from the destination and checked again; the manifest last, so
 * a copy is visible there only when complete. A base backup's archived WAL (from its start on) is
 * copied before its manifest, so a base backup visible there can be made consistent and rolled
 * forward. The secondary gets the same holdfast.json and key file on first use, so the same
 * passphrase or identity opens it.
 */
export async function copyBackups(req: CopyRequest, ctx: CommandContext): Promise<CopyResult> {
  const { repo } = await openRepository(req.settings, "no");
  const source = req.source ? resolveSourceRef(req.source, req.settings) : undefined;
  const refs = req.refs.length || req.wal ? req.refs : ["latest"];
  const manifests = req.all ? (await repo.catalog()).backups : await Promise.all(refs.map((r) => repo.resolve(r, { source, purpose: "copy" })));
  return copyManifests(repo, manifests, openBackend(req.to, { s3: req.settings.s3 }), ctx, { wholeWal: req.wal });
}

/** wholeWal: bring the destination's whole WAL archive up to date, not only what these base backups need. */
export async function copyManifests(source: Repository, manifests: Manifest[], dest: StorageBackend, ctx: CommandContext, options: { wholeWal?: boolean } = {}): Promise<CopyResult> {
  if (dest.location === source.backend.location) throw new HoldfastError("USAGE", `cannot copy ${source.backend.location} onto itself`);
  const target = await prepareSecondary(source, dest, ctx);
  const result: CopyResult = { destination: dest.location, copied: [], skipped: [] };
  const scope = walScopeOf(manifests);
  if (options.wholeWal || scope) result.wal = await copyWal(new WalArchive(source.backend), dest, ctx, options.wholeWal ? undefined : scope);
  for (const manifest of manifests) {
    if (await dest.stat(manifestKey(manifest.id), { signal: ctx.signal })) {
      result.skipped.push(manifest.id);
      continue;
    }
    try {
      for (const file of manifest.files) {
        const bar = ctx.progress(`copy ${manifest.id}/${file.name}`, file.storedBytes);
        try {
          await copyStoredFile(source.backend, dest, file, ctx.signal, (n) => bar.update(n));
        } finally {
          bar.stop();
        }
      }
      await target.commit(manifest);
    } catch (err) {
      await removeCopy(dest, manifest.id);
      throw err;
    }
    result.copied.push({ id: manifest.id, files: manifest.files.length, storedBytes: manifest.files.reduce((s, f) => s + f.storedBytes, 0) });
    ctx.log.info({ id: manifest.id, to: dest.location }, "backup copied");
  }
  return result;
}

/**
 * The destination must be empty (then it receives our config and key file, config last) or
 * already be a copy of this repository (same keys, or older ones: then it gets ours).
 */
async function prepareSecondary(source: Repository, dest: StorageBackend, ctx: CommandContext): Promise<Repository> {
  const existing = await dest.stat(CONFIG_KEY);
  if (existing) {
    // A copy made before a passphrase change or key rotation here gets the new key file first.
    const { repo: there, updated } = await syncKeys(source, await Repository.open(dest), { waitMs: KEY_SYNC_WAIT_MS });
    if (updated) ctx.log.info({ to: dest.location }, "offsite copy's keys updated to the primary's");
    return there;
  }
  for await (const obj of dest.list("")) {
    throw new HoldfastError("REPO_NOT_EMPTY", `${dest.location} is not empty and is not a Holdfast repository (found ${obj.key})`);
  }
  const enc = source.config.encryption;
  if (enc.mode === "passphrase") await copyWhole(source.backend, dest, enc.keyFile);
  await copyWhole(source.backend, dest, CONFIG_KEY);
  return Repository.open(dest);
}

async function copyWhole(from: StorageBackend, to: StorageBackend, key: string): Promise<void> {
  await to.put(key, await from.get(key));
}

async function removeCopy(dest: StorageBackend, id: string): Promise<void> {
  try {
    for await (const obj of dest.list(backupPrefix(id))) await dest.delete(obj.key);
  } catch {
    // Best effort: without a manifest the partial copy is invisible; `holdfast check` reports it.
  }
}

/** After a backup: copy it to every copy_to location. Failures are collected, not hidden. */
export async function copyToSecondaries(source: Repository, manifest: Manifest, settings: Settings, ctx: CommandContext): Promise<void> {
  const failures: string[] = [];
  for (const location of settings.copyTo ?? []) {
    try {
      await copyManifests(source, [manifest], openBackend(location, { s3: settings.s3 }), ctx);
    } catch (err) {
      failures.push(`${location}: ${(err as Error).message}`);
      ctx.log.error({ id: manifest.id, to: location, error: (err as Error).message }, "offsite copy failed");
    }
  }
  if (failures.length) {
    throw new HoldfastError("STORAGE_FAILED", `backup ${manifest.id} is complete in ${source.backend.location}, but the offsite copy failed (${failures.join("; ")})`, {
      hint: `retry with \`holdfast copy ${manifest.id} --to <location>\``,
    });
  }
}
