import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { HoldfastError, type ErrorCode } from "../errors.js";
import type { Settings } from "../config/load.js";
import { findEngine, loadEngine } from "../engines/registry.js";
import type { CheckReport, RepositoryContext } from "../engines/engine.js";
import { checkStoredBytes, discard, openStoredFile } from "../pipeline/assemble.js";
import { kindOf, type Manifest } from "../repository/manifest.js";
import { checkExport } from "../transfer/check.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";
import { resolveSourceRef } from "./source-ref.js";
import { recordVerification } from "../repository/verification.js";
import { fileOpener } from "./restore.js";
import { repositoryContext } from "./repository-context.js";
import type { AgeKeys } from "../pipeline/age.js";
import type { Repository } from "../repository/repository.js";

export interface VerifyRequest {
  /** Backup refs ("latest", ids); ignored with all. */
  refs: string[];
  all: boolean;
  deep: boolean;
  /** Which source `latest` means (URI, file path or database name); required when the repository holds several. */
  source?: string;
  settings: Settings;
}

export interface FileVerdict {
  name: string;
  key: string;
  ok: boolean;
  /** "content" = decrypted, decompressed and both hashes checked; "stored" = stored bytes only (no key). */
  level: "content" | "stored";
  error?: string;
}

export interface BackupVerdict {
  id: string;
  engine: string;
  /** The source the backup was taken of (absent when its manifest is damaged). */
  source?: string;
  ok: boolean;
  files: FileVerdict[];
  deep?: CheckReport;
  error?: { code: ErrorCode; message: string };
}

export interface VerifyReport {
  ok: boolean;
  backups: BackupVerdict[];
}

/**
 * Re-read every stored file and prove it: size and SHA-256 as stored, then decryption,
 * decompression and the content SHA-256. --deep also restores into a scratch target and compares
 * the engine's checks (integrity, row counts, checksums) with the manifest.
 */
export async function verify(req: VerifyRequest, ctx: CommandContext): Promise<VerifyReport> {
  const { repo, keys } = await openRepository(req.settings, req.deep ? "required" : "if-possible");
  let manifests: Manifest[];
  const verdicts: BackupVerdict[] = [];
  if (req.all) {
    const catalog = await repo.catalog({ signal: ctx.signal });
    manifests = catalog.backups;
    // A backup whose manifest is damaged is a failed backup, not an absent one.
    for (const d of catalog.damaged) verdicts.push({ id: d.id, engine: "unknown", ok: false, files: [], error: { code: "CORRUPTED", message: d.error } });
  }
  else {
    const source = req.source ? resolveSourceRef(req.source, req.settings) : undefined;
    manifests = await Promise.all((req.refs.length ? req.refs : ["latest"]).map((r) => repo.resolve(r, { source, purpose: "verify" })));
  }
  const repository = repositoryContext(repo, keys, req.settings);
  for (const manifest of manifests) {
    const verdict: BackupVerdict = { id: manifest.id, engine: manifest.engine, source: manifest.source.uri, ok: true, files: [] };
    verdicts.push(verdict);
    try {
      for (const file of manifest.files) {
        const level = keys || file.encryption === "none" ? "content" : "stored";
        try {
          if (level === "content") await pipeline(await openStoredFile(repo.backend, file, { keys, signal: ctx.signal }), discard());
          else await checkStoredBytes(repo.backend, file, ctx.signal);
          verdict.files.push({ name: file.name, key: file.key, ok: true, level });
        } catch (err) {
          verdict.files.push({ name: file.name, key: file.key, ok: false, level, error: (err as Error).message });
          throw err;
        }
      }
      if (findEngine(manifest.engine)) await (await loadEngine(manifest.engine)).verifyStored?.(manifest, repository);
      if (req.deep) verdict.deep = kindOf(manifest) === "export" ? await checkExport(repo, manifest, keys) : await deepCheck(manifest, req.settings, repo, keys, repository, ctx);
      if (verdict.deep && !verdict.deep.ok) {
        verdict.ok = false;
        verdict.error = { code: "VERIFY_FAILED", message: `backup ${manifest.id}: ${verdict.deep.problems.join("; ")}` };
      }
    } catch (err) {
      verdict.ok = false;
      const e = err instanceof HoldfastError ? err : new HoldfastError("INTERNAL", (err as Error).message);
      if (e.code === "WRONG_KEY" || e.code === "INTERRUPTED") throw e;
      verdict.error = { code: e.code, message: `backup ${manifest.id}: ${e.message}` };
    }
    ctx.log.info({ id: manifest.id, ok: verdict.ok, error: verdict.error?.message }, "verified");
    // Retention and the daemon rely on this record; failing to write it must not hide the verdict.
    await recordVerification(repo.backend, { formatVersion: 1, backupId: manifest.id, verifiedAt: new Date().toISOString(), ok: verdict.ok, deep: req.deep, error: verdict.error?.message }).catch((err: unknown) =>
      ctx.log.warn({ id: manifest.id, error: (err as Error).message }, "could not record the verification result"),
    );
  }
  return { ok: verdicts.every((v) => v.ok), backups: verdicts };
}

/** Restore into the engine's scratch target (a file, a temporary database, a data directory), report its checks, throw it away. */
async function deepCheck(manifest: Manifest, settings: Settings, repo: Repository, keys: AgeKeys | undefined, repository: RepositoryContext, ctx: CommandContext): Promise<CheckReport> {
  const engine = await loadEngine(manifest.engine);
  const scratch = await mkdtemp(join(settings.tmpDir, "holdfast-verify-"));
  try {
    const target = await engine.scratch(manifest, scratch, { server: settings.scratchServer });
    try {
      const outcome = await engine.restore(fileOpener(repo, manifest, keys, ctx), manifest, target.ref, {
        inPlace: false,
        reportOnly: true,
        tempDir: scratch,
        signal: ctx.signal,
        repository,
        log: ctx.log,
      });
      return outcome.check;
    } catch (err) {
      if (err instanceof HoldfastError && err.code === "RESTORE_FAILED") {
        return { ok: false, problems: [err.message], tables: [], details: {} };
      }
      throw err;
    } finally {
      await target.dispose();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
