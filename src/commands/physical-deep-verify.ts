import { chmod, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Settings } from "../config/load.js";
import type { CheckReport } from "../engines/engine.js";
import { HoldfastError } from "../errors.js";
import type { Manifest } from "../repository/manifest.js";
import type { CommandContext } from "./context.js";
import { physicalRestore } from "./physical-restore.js";

/**
 * `verify --deep` of a base backup: restore it into a scratch directory, let PostgreSQL replay
 * the archived WAL up to the backup's consistency point (archiving off, so no timeline is added
 * to the repository), check it promoted, then throw the directory away.
 */
export async function deepCheckPhysical(manifest: Manifest, settings: Settings, ctx: CommandContext): Promise<CheckReport> {
  const scratch = await mkdtemp(join(settings.tmpDir, "holdfast-verify-physical-"));
  // PostgreSQL runs as the data directory's owner: it must be able to pass through (not list) this folder.
  await chmod(scratch, 0o711);
  try {
    const r = await physicalRestore({ to: join(scratch, "data"), backup: manifest.id, replace: false, settings, scratch: true }, ctx);
    return { ok: true, problems: [], tables: [], details: { stoppedAt: r.stoppedAt, redoDoneLsn: r.redoDoneLsn, recoveryMs: r.durationMs } };
  } catch (err) {
    if (err instanceof HoldfastError && err.code === "RESTORE_FAILED") return { ok: false, problems: [err.message], tables: [], details: {} };
    throw err;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
