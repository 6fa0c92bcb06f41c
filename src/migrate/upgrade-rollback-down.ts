import { compareStates } from "./checks.js";
import type { RollbackOutcome } from "./report.js";
import type { OwnMigrations } from "./upgrade-runner-holdfast.js";
import type { DatabaseState, UpgradeTarget } from "./upgrade-target.js";

/**
 * `--rollback down`: revert this run's steps by their down migrations (back to `versionBefore`),
 * then prove the database equals `before` as the restore does. When a step has no down migration,
 * a down fails, or the result is not equal, fall back to `restore` and say why. Never throws.
 */
export async function rollBackByDown(target: UpgradeTarget, own: OwnMigrations, versionBefore: string | undefined, before: DatabaseState, restore: () => Promise<RollbackOutcome>): Promise<RollbackOutcome> {
  let why: string;
  try {
    const detail = await own.down(target, versionBefore);
    const problems = compareStates(before, await target.state());
    if (problems.length === 0) return { mode: "down", taken: true, by: "down", detail, proven: true, problems };
    why = `after the down migrations (${detail}) the database differs: ${problems.join("; ")}`;
  } catch (err) {
    why = (err as Error).message;
  }
  return { ...(await restore()), mode: "down", by: "restore", downError: why };
}
