import { createReadStream, createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { HoldfastError, isHoldfastError } from "../errors.js";
import type { OpenBackupFile } from "../engines/engine.js";
import { openStoredFile } from "../pipeline/assemble.js";
import type { AgeKeys } from "../pipeline/age.js";
import { HashCounter } from "../pipeline/hash.js";
import type { Manifest } from "../repository/manifest.js";
import type { StorageBackend } from "../storage/backend.js";
import { LocalBackend } from "../storage/local.js";
import type { DrillPhase } from "./record.js";

/**
 * The drill runs the restore pipeline in separate, timed passes so that each phase of the RTO is
 * measured on its own (a plain restore streams them into one another):
 *  - fetch: the stored bytes of every file of the backup, from the repository (local folder, S3,
 *    an offsite copy) into a local staging folder, their size and SHA-256 checked as they arrive;
 *  - decode: each staged file decrypted, decompressed and checked (content SHA-256) into a content
 *    file — nothing reaches the target before this passed;
 *  - restore: the engine puts the content in place (copy, pg_restore, base backup unpacked).
 * The staging folder needs about twice the backup's content size.
 */
export const PHASE_COVERS: Record<DrillPhase["name"], string> = {
  fetch: "reading the stored bytes of every file of the backup from the repository into local staging, with their stored size and SHA-256",
  decode: "decryption, decompression and content SHA-256 of each staged file",
  restore: "the engine putting the backup in place and comparing it with the manifest (SQLite copy, integrity check, row counts; pg_restore, row counts and content checksums), or the base backup unpacked",
  recovery: "PostgreSQL replaying archived WAL (fetched through restore_command) up to the target, then promoting",
  checks: "starting the restored cluster (physical), the write probe, sequences and the smoke SQL",
};

export class PhaseClock {
  readonly phases: DrillPhase[] = [];

  async time<T>(name: DrillPhase["name"], run: () => Promise<T>): Promise<T> {
    const started = new Date();
    try {
      return await run();
    } finally {
      this.add(name, started, Date.now() - started.getTime());
    }
  }

  add(name: DrillPhase["name"], started: Date, ms: number): void {
    this.phases.push({ name, startedAt: started.toISOString(), ms: Math.max(0, Math.round(ms)), covers: PHASE_COVERS[name] });
  }

  /** The RTO: every phase, from the first byte fetched to the database proven usable. */
  total(): number {
    return this.phases.reduce((sum, p) => sum + p.ms, 0);
  }
}

/** Copy the backup's stored files, as stored, into a local folder laid out like the repository. */
export async function fetchFiles(from: StorageBackend, manifest: Manifest, stagingDir: string, signal?: AbortSignal): Promise<StorageBackend> {
  const staged = new LocalBackend(join(stagingDir, "stored"));
  await mkdir(staged.root, { recursive: true, mode: 0o700 });
  for (const file of manifest.files) {
    const body = await from.get(file.key, undefined, { signal }).catch((err: unknown) => {
      if (isHoldfastError(err, "NOT_FOUND")) throw new HoldfastError("CORRUPTED", `stored file missing: ${from.location}/${file.key}`);
      throw err;
    });
    // The stored SHA-256 is proven here, against the repository's bytes, before anything is decrypted.
    const tap = new HashCounter();
    await Promise.all([pipeline(body, tap, { signal }), staged.put(file.key, tap, { signal })]);
    if (tap.bytes !== file.storedBytes || tap.sha256 !== file.storedSha256) {
      throw new HoldfastError("CORRUPTED", `stored file ${from.location}/${file.key} is damaged: ${tap.bytes !== file.storedBytes ? `${tap.bytes} bytes, the manifest records ${file.storedBytes}` : "its SHA-256 differs from the manifest's"}`, { hint: "drill another backup, or the offsite copy (--from)" });
    }
  }
  return staged;
}

/** Prove and decode every staged file into content files; returns how the engine opens them. */
export async function decodeFiles(staged: StorageBackend, manifest: Manifest, keys: AgeKeys | undefined, stagingDir: string, signal?: AbortSignal): Promise<OpenBackupFile> {
  const dir = join(stagingDir, "content");
  await mkdir(dir, { mode: 0o700 });
  const paths = new Map<string, string>();
  for (const [i, file] of manifest.files.entries()) {
    const path = join(dir, String(i));
    await pipeline(await openStoredFile(staged, file, { keys, signal }), createWriteStream(path, { mode: 0o600 }), { signal });
    paths.set(file.name, path);
  }
  return async (name) => {
    const path = paths.get(name);
    if (!path) throw new HoldfastError("CORRUPTED", `backup ${manifest.id} has no file "${name}"`);
    return createReadStream(path);
  };
}
