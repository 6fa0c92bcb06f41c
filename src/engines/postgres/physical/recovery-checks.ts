import { HoldfastError } from "../../../errors.js";
import { formatLsn } from "../../../wal/names.js";
import type { BackupReach } from "../../../repository/wal-catalog.js";
import { redoDoneAt, type runRecovery } from "./recovery.js";
import { describeTarget, type RecoveryTarget } from "./target.js";

function reachText(reach: BackupReach): string {
  return `the furthest reachable point is LSN ${formatLsn(reach.reachableLsn)}${reach.lastSegment ? ` (end of segment ${reach.lastSegment}${reach.reachableArchivedAt ? `, archived ${reach.reachableArchivedAt}` : ""})` : ""}`;
}

/** Before touching the target: refuse what the archive cannot possibly deliver. */
export function assertReachable(reach: BackupReach, target: RecoveryTarget, id: string): void {
  if (!reach.consistent) {
    throw new HoldfastError("RESTORE_FAILED", `base backup ${id} cannot be made consistent: WAL segment ${reach.nextNeeded} is missing from the archive`, { hint: "restore from another base backup (--backup) or find the segment" });
  }
  if (target.kind === "latest" && reach.missing) {
    throw new HoldfastError("RESTORE_FAILED", `WAL segment ${reach.missing} is missing from the archive although later WAL exists; ${reachText(reach)}`, {
      hint: "restore to a target before that point (--target-time/--target-lsn) knowingly, or put the segment back",
    });
  }
  if (target.kind === "lsn" && target.lsn > reach.reachableLsn) {
    throw new HoldfastError("RESTORE_FAILED", `LSN ${formatLsn(target.lsn)} is beyond the archived WAL: segment ${reach.nextNeeded} is ${reach.missing ? "missing" : "not archived yet"}; ${reachText(reach)}`);
  }
}

/** PostgreSQL stops with FATAL when it runs out of WAL before an explicit target: say which segment. */
export function explainFailure(err: unknown, reach: BackupReach, target: RecoveryTarget): unknown {
  if (!(err instanceof HoldfastError) || !/recovery ended before configured recovery target was reached/.test(err.message)) return err;
  const before = target.kind === "xid" || target.kind === "name" ? `, or it lies before base backup ${reach.backupId} (name an older one: holdfast restore <id> --type physical …)` : "";
  return new HoldfastError("RESTORE_FAILED", `recovery could not reach ${describeTarget(target)}: the WAL ends first — segment ${reach.nextNeeded} is ${reach.missing ? "missing from the archive" : "not archived (yet)"}${before}; ${reachText(reach)}`, {
    hint: "choose an earlier target, or `latest`; `holdfast wal verify` shows the recovery window",
  });
}

/** After promotion: the log must show the target was hit, or (latest) that replay used all the WAL there is. */
export function assertTargetReached(outcome: Awaited<ReturnType<typeof runRecovery>>, reach: BackupReach, target: RecoveryTarget, segmentSize: number): void {
  if (target.kind !== "latest") {
    if (!outcome.stoppedAt) throw new HoldfastError("RESTORE_FAILED", `PostgreSQL finished recovery without reporting that it stopped at ${describeTarget(target)}`, { hint: "see the server log in the restored directory" });
    return;
  }
  const done = redoDoneAt(outcome);
  if (done !== undefined && done < reach.reachableLsn - segmentSize) {
    throw new HoldfastError("RESTORE_FAILED", `recovery stopped at ${formatLsn(done)} although the archive holds WAL up to ${formatLsn(reach.reachableLsn)}: a segment after ${formatLsn(done)} could not be fetched`, {
      hint: "see the server log; `holdfast wal verify --stored` checks the archive",
    });
  }
}
