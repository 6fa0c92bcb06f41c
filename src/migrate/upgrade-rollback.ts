import type { Settings } from "../config/load.js";
import type { CommandContext } from "../commands/context.js";
import { restore } from "../commands/restore.js";
import { compareStates } from "./checks.js";
import type { RollbackOutcome } from "./report.js";
import type { DatabaseState, UpgradeTarget } from "./upgrade-target.js";

/**
 * Put the database back as it was before the upgrade: restore the pre-upgrade backup in place (the
 * restore keeps what it replaces: a safety backup on PostgreSQL, a safety copy of the file on
 * SQLite), then prove it: schema dump and every table's rows and checksum equal to `before`.
 * Never throws: what failed is in the outcome.
 */
export async function rollBack(target: UpgradeTarget, backupId: string, before: DatabaseState, settings: Settings, ctx: CommandContext, engineOptions: Record<string, unknown>): Promise<RollbackOutcome> {
  const outcome: RollbackOutcome = { mode: "restore", taken: true, by: "restore" };
  try {
    const restored = await restore({ ref: backupId, inPlace: true, to: target.sourceText, settings, engineOptions }, ctx);
    outcome.safetyBackupId = restored.safetyBackupId;
    outcome.safetyCopy = restored.safetyCopy;
    outcome.problems = compareStates(before, await target.state());
    outcome.proven = outcome.problems.length === 0;
  } catch (err) {
    outcome.error = (err as Error).message;
    outcome.proven = false;
  }
  ctx.log.info({ backupId, proven: outcome.proven, problems: outcome.problems, error: outcome.error }, "rollback finished");
  return outcome;
}
