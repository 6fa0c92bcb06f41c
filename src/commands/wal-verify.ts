import type { Settings } from "../config/load.js";
import { PHYSICAL_ENGINE } from "../engines/postgres/physical/kind.js";
import { formatLsn } from "../wal/names.js";
import { checkStoredBytes } from "../pipeline/assemble.js";
import { reachOfBaseBackups, windowOfReaches, type RecoveryWindow } from "../repository/recovery-window.js";
import type { Repository } from "../repository/repository.js";
import { WalArchive } from "../repository/wal-archive.js";
import { loadWalCatalog, type BackupReach } from "../repository/wal-catalog.js";
import type { TimelineSummary } from "../repository/wal-chain.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";

export interface WalVerifyReport {
  ok: boolean;
  repository: string;
  segmentSize?: number;
  walFiles: number;
  timelines: TimelineSummary[];
  backups: (BackupReach & { reachableLsnText: string })[];
  /** The recovery window of the newest base backup's cluster. */
  window?: RecoveryWindow;
  problems: string[];
}

/**
 * Gaps in the archived WAL per timeline, how far each physical base backup can be rolled forward
 * (following timeline history as `recovery_target_timeline = latest` does), and the recovery
 * window. --stored also re-reads every WAL object's stored bytes against its recorded SHA-256.
 */
export async function walVerify(settings: Settings, options: { stored?: boolean }, ctx: CommandContext): Promise<WalVerifyReport> {
  const { repo, keys } = await openRepository(settings, "if-possible");
  return walReport(repo, keys, options, ctx);
}

export async function walReport(repo: Repository, keys: Parameters<typeof loadWalCatalog>[1], options: { stored?: boolean }, ctx: CommandContext): Promise<WalVerifyReport> {
  const archive = new WalArchive(repo.backend);
  const physical = (await repo.catalog()).backups.filter((m) => m.engine === PHYSICAL_ENGINE);
  const hint = physical.at(-1)?.details.walSegmentSize as number | undefined;
  const catalog = await loadWalCatalog(archive, keys, hint);
  const problems: string[] = [];
  for (const tl of catalog.timelines) {
    if (tl.missingCount > 0) problems.push(`timeline ${tl.timeline}: ${tl.missingCount} segment(s) missing between ${tl.first} and ${tl.last}, first ${tl.missing[0]}`);
  }
  if (catalog.unreadHistories.length) problems.push(`cannot read .history of timeline(s) ${catalog.unreadHistories.join(", ")} without the key: timeline switches not followed`);
  if (options.stored) {
    for (const f of catalog.files) {
      const record = await archive.record(f.name);
      try {
        if (record) await checkStoredBytes(repo.backend, record.file, ctx.signal);
      } catch (err) {
        problems.push(`${f.name}: ${(err as Error).message}`);
      }
    }
  }
  const reaches = reachOfBaseBackups(physical, catalog);
  const backups = reaches.map(({ m, reach }) => {
    if (!reach.consistent) problems.push(`backup ${m.id} cannot be made consistent: WAL segment ${reach.nextNeeded} is missing (needs WAL up to ${String(m.details.stopLsn)})`);
    return { ...reach, reachableLsnText: formatLsn(reach.reachableLsn) };
  });
  const newestSource = physical.at(-1)?.source.uri;
  return {
    ok: problems.length === 0,
    repository: repo.backend.location,
    segmentSize: catalog.segmentSize,
    walFiles: catalog.files.length,
    timelines: catalog.timelines,
    backups,
    window: windowOfReaches(reaches.filter((x) => x.m.source.uri === newestSource)),
    problems,
  };
}
