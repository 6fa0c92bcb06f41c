import { isHoldfastError, type ErrorCode } from "../errors.js";
import type { Settings } from "../config/load.js";
import type { CommandContext } from "./context.js";

/** Failures of the primary repository that a copy elsewhere can make good. */
const FALL_BACK_ON: ReadonlySet<ErrorCode> = new Set([
  "CONNECTION_FAILED",
  "STORAGE_FAILED",
  "AUTH_FAILED",
  "CORRUPTED",
  "TRUNCATED",
  "NOT_FOUND",
  "MANIFEST_MISSING",
  "BACKUP_NOT_FOUND",
  "REPO_NOT_INITIALISED",
]);

export interface Fallback {
  /** The secondary location the result came from. */
  location: string;
  /** Why the primary was not used. */
  primaryError: string;
}

/**
 * Run an operation against the primary repository; when it fails in a way a copy can fix (the
 * primary is unreachable, a file is missing or fails its checksum) and copy_to lists secondaries,
 * run it again against each in turn. The caller's operation must leave its target untouched on
 * failure (restore does: it writes to a temporary and commits last).
 */
export async function withSecondaryFallback<T extends object>(settings: Settings, ctx: CommandContext, run: (settings: Settings) => Promise<T>): Promise<T & { fallback?: Fallback }> {
  try {
    return await run(settings);
  } catch (primary) {
    const secondaries = settings.copyTo ?? [];
    if (secondaries.length === 0 || !isHoldfastError(primary) || !FALL_BACK_ON.has(primary.code) || ctx.signal?.aborted) throw primary;
    for (const location of secondaries) {
      ctx.log.warn({ primary: settings.repo, secondary: location, error: primary.message }, "primary repository failed; trying the offsite copy");
      try {
        const result = await run({ ...settings, repo: location, copyTo: [] });
        return { ...result, fallback: { location, primaryError: primary.message } };
      } catch (err) {
        ctx.log.error({ secondary: location, error: (err as Error).message }, "offsite copy failed too");
      }
    }
    throw primary;
  }
}
