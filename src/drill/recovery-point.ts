import { readFile } from "node:fs/promises";
import type { RepositoryContext, RestoreOutcome } from "../engines/engine.js";
import type { Manifest } from "../repository/manifest.js";
import { reachFromBackup } from "../repository/wal-catalog.js";
import type { CheckList } from "./verdict.js";
import { pgLogTime } from "./verdict.js";

/**
 * The point-in-time part of a drill of a physical backup: whether the archive can deliver the
 * requested moment at all, where restore ends and recovery begins, and the recovery point reached.
 */

/** Why the archive cannot prove a recovery to `time` (the last reachable segment was archived before it), or undefined. */
export async function pastArchiveEnd(manifest: Manifest, repository: RepositoryContext, time: Date): Promise<string | undefined> {
  const catalog = await repository.walCatalog(Number(manifest.details.walSegmentSize));
  const reach = reachFromBackup(catalog, manifest);
  if (!reach.reachableArchivedAt) return undefined;
  if (time.getTime() <= Date.parse(reach.reachableArchivedAt)) return undefined;
  return `the requested time ${time.toISOString()} is past the end of the archive: its last reachable segment ${reach.lastSegment ?? "?"} was archived at ${reach.reachableArchivedAt}, so no archived WAL can show that moment was reached`;
}

/** The moment PostgreSQL started on the unpacked base backup (the first line of its recovery log), within [from, to]. */
export async function recoveryStart(outcome: RestoreOutcome, from: number, to: number): Promise<number | undefined> {
  const log = typeof outcome.details?.serverLog === "string" ? await readFile(outcome.details.serverLog, "utf8").catch(() => "") : "";
  const first = pgLogTime(log.split("\n").find((l) => pgLogTime(l) !== undefined));
  const at = first ? Date.parse(first) : NaN;
  // The log's clock is this host's: accept it only inside the restore call (1 s of rounding either side).
  return at >= from - 1000 && at <= to + 1000 ? Math.min(Math.max(at, from), to) : undefined;
}

/**
 * The recovery point actually reached, against the request; returns the newest data the restore
 * holds (the last replayed commit) for the RPO.
 */
export function judgeRecoveryPoint(checks: CheckList, outcome: RestoreOutcome, requested: Date | undefined): string | undefined {
  const d = outcome.details ?? {};
  const lastCommit = pgLogTime(typeof d.lastTransactionTime === "string" ? d.lastTransactionTime : undefined);
  const stopped = typeof d.stoppedAt === "string" ? d.stoppedAt : undefined;
  const redo = typeof d.redoDoneLsn === "string" ? d.redoDoneLsn : undefined;
  if (requested) {
    if (!stopped) checks.add("recovery-point", "target reached", "fail", `PostgreSQL did not report stopping at ${requested.toISOString()}`);
    else checks.add("recovery-point", "target reached", "pass", stopped);
    if (lastCommit === undefined) checks.add("recovery-point", "last replayed commit", "inconclusive", "the recovery log names no last completed transaction");
    else checks.add("recovery-point", "last replayed commit", Date.parse(lastCommit) <= requested.getTime() ? "pass" : "fail", `${lastCommit} (requested ${requested.toISOString()})`);
  } else {
    checks.add("recovery-point", "all archived WAL replayed", redo ? "pass" : "inconclusive", redo ? `redo done at ${redo}` : "the recovery log names no end of redo");
    if (lastCommit === undefined) checks.add("recovery-point", "last replayed commit", "inconclusive", "the recovery log names no last completed transaction: the newest data held is unknown");
    else checks.add("recovery-point", "last replayed commit", "pass", lastCommit);
  }
  return lastCommit;
}

export function recoveryFacts(outcome: RestoreOutcome): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ["recoveryTarget", "stoppedAt", "lastTransactionTime", "redoDoneLsn", "timeline"]) {
    const v = outcome.details?.[k];
    if (v !== undefined && v !== null) out[k] = String(v);
  }
  return out;
}
