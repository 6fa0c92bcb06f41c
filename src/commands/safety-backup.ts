import { isHoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { storeBackup } from "./backup.js";
import type { CommandContext } from "./context.js";

/** Label on backups taken automatically before an in-place restore replaces a database. */
export const SAFETY_LABEL = "holdfast.safety";

/**
 * Back up the database an in-place restore is about to replace, into the same repository, before
 * anything is touched. Undefined when the target does not exist yet (nothing to protect).
 */
export async function safetyBackup(target: string, restoring: string, settings: Settings, ctx: CommandContext): Promise<string | undefined> {
  try {
    // The bare backup: an offsite-copy failure must not be taken for a failure of the primary.
    // The caller holds the target's lock for the whole restore; the safety backup runs under it.
    const m = await storeBackup({ source: target, settings, kind: "safety", lockHeld: true, labels: { [SAFETY_LABEL]: "pre-restore", "holdfast.restoring": restoring } }, ctx);
    ctx.log.info({ id: m.id, target }, "safety backup taken before in-place restore");
    return m.id;
  } catch (err) {
    if (isHoldfastError(err, "DATABASE_MISSING")) return undefined;
    throw err;
  }
}
