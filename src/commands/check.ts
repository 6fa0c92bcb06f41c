import { randomInt } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { HoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { checkStoredBytes, discard, openStoredFile, type StoredFileRecord } from "../pipeline/assemble.js";
import { BACKUPS_PREFIX, backupIdOf, manifestKey } from "../repository/layout.js";
import { supportsSweep } from "../storage/backend.js";
import { openBackend } from "../storage/open.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";
import { verificationKey } from "../repository/verification.js";
import { judgeIncomplete, type IncompleteVerdict } from "../repository/incomplete.js";
import { isReservationKey } from "../repository/layout.js";

/** Multipart uploads / temporaries older than this are certainly dead (no put runs a day). */
export const STALE_UPLOAD_AGE_MS = 24 * 3_600_000;

export interface CheckRequest {
  settings: Settings;
  /** Re-download stored data and check it (restic check --read-data). */
  readData: boolean;
  /** Fraction of stored files to read with readData, 0 < subset ≤ 1. */
  subset?: number;
  staleUploadAgeMs?: number;
}

export interface CheckProblem {
  id: string;
  key: string;
  message: string;
}

export interface CheckResult {
  ok: boolean;
  repository: string;
  backups: number;
  files: number;
  filesRead: number;
  bytesRead: number;
  /** "content" when the key was available (decrypt + decompress + both hashes), else "stored". */
  level: "content" | "stored";
  problems: CheckProblem[];
  /** Backups with objects but no manifest: being written, or interrupted (with when prune removes them). */
  incomplete: IncompleteVerdict[];
  /** Objects under a complete backup that its manifest does not list. */
  orphans: string[];
  /** Stale multipart uploads / temporaries removed, or "unsupported" by the server. */
  staleUploadsRemoved: number | "unsupported";
}

/**
 * Check the repository's structure (every manifest's files present with the recorded size,
 * interrupted backups, orphan objects), remove stale incomplete uploads and, with readData,
 * re-download a subset (or all) of the stored files and prove them.
 */
export async function checkRepository(req: CheckRequest, ctx: CommandContext): Promise<CheckResult> {
  const { repo, keys } = await openRepository(req.settings, "if-possible");
  const staleUploadsRemoved = await sweepStaleUploads(req.settings, ctx, req.staleUploadAgeMs);
  const { backups, incomplete, damaged } = await repo.catalog({ signal: ctx.signal });
  const listed = new Map<string, number>();
  for await (const obj of repo.backend.list(BACKUPS_PREFIX, { signal: ctx.signal })) listed.set(obj.key, obj.size);

  const problems: CheckProblem[] = damaged.map((d) => ({ id: d.id, key: d.key, message: d.error }));
  const orphans: string[] = [];
  const present: { id: string; file: StoredFileRecord }[] = [];
  const filesOf = new Map(backups.map((m) => [m.id, new Set(m.files.map((f) => f.key))]));
  for (const d of damaged) filesOf.set(d.id, new Set()); // its files are not orphans: its manifest is what is wrong
  for (const m of backups) {
    for (const file of m.files) {
      const size = listed.get(file.key);
      if (size === undefined) problems.push({ id: m.id, key: file.key, message: `missing: ${repo.backend.location}/${file.key}` });
      else if (size !== file.storedBytes) problems.push({ id: m.id, key: file.key, message: `${repo.backend.location}/${file.key} has ${size} bytes, the manifest records ${file.storedBytes}` });
      else present.push({ id: m.id, file });
    }
  }
  for (const key of listed.keys()) {
    const id = backupIdOf(key);
    const files = id ? filesOf.get(id) : undefined;
    if (!id || !files || key === manifestKey(id) || key === verificationKey(id) || isReservationKey(key) || damaged.some((d) => d.id === id)) continue; // verify.json: see repository/verification.ts
    if (!files.has(key)) orphans.push(key);
  }

  const level = keys || present.every((p) => p.file.encryption === "none") ? "content" : "stored";
  let filesRead = 0;
  let bytesRead = 0;
  if (req.readData) {
    for (const { id, file } of pickSubset(present, req.subset ?? 1)) {
      try {
        if (keys || file.encryption === "none") await pipeline(await openStoredFile(repo.backend, file, { keys, signal: ctx.signal }), discard(), { signal: ctx.signal });
        else await checkStoredBytes(repo.backend, file, ctx.signal);
      } catch (err) {
        if (err instanceof HoldfastError && (err.code === "INTERRUPTED" || err.code === "WRONG_KEY")) throw err;
        problems.push({ id, key: file.key, message: (err as Error).message });
      }
      filesRead++;
      bytesRead += file.storedBytes;
    }
  }
  ctx.log.info({ repo: repo.backend.location, problems: problems.length, filesRead }, "check complete");
  return {
    ok: problems.length === 0,
    repository: repo.backend.location,
    backups: backups.length,
    files: present.length + problems.length,
    filesRead,
    bytesRead,
    level,
    problems,
    incomplete: await judgeIncomplete(repo.backend, incomplete),
    orphans,
    staleUploadsRemoved,
  };
}

/** A random subset (restic --read-data-subset x%): at least one file when there are any. */
function pickSubset<T>(items: T[], fraction: number): T[] {
  if (fraction >= 1) return items;
  const shuffled = [...items];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  return shuffled.slice(0, Math.max(items.length ? 1 : 0, Math.ceil(items.length * fraction)));
}

/** "10%" or "0.1" → 0.1. */
export function parseSubset(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  const value = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!(value > 0 && value <= 1)) throw new HoldfastError("USAGE", `--subset expects a percentage such as 10% (got "${text}")`);
  return value;
}

/**
 * Abort multipart uploads (S3) or remove temporaries (local folder) that interrupted puts left
 * behind. Never fails the caller: a backup must not stop because a clean-up could not run.
 */
export async function sweepStaleUploads(settings: Settings, ctx: CommandContext, maxAgeMs = STALE_UPLOAD_AGE_MS): Promise<number | "unsupported"> {
  try {
    const backend = openBackend(settings.repo, { s3: settings.s3 });
    if (!supportsSweep(backend)) return "unsupported";
    const removed = await backend.sweepIncomplete(maxAgeMs, { signal: ctx.signal });
    if (removed === "unsupported") ctx.log.debug({ repo: backend.location }, "the storage server cannot list incomplete uploads; rely on its lifecycle rules");
    else if (removed > 0) ctx.log.info({ repo: backend.location, removed }, "removed stale incomplete uploads");
    return removed;
  } catch (err) {
    ctx.log.warn({ error: (err as Error).message }, "could not clean up incomplete uploads");
    return "unsupported";
  }
}
