import type { AgeKeys } from "../pipeline/age.js";
import type { StorageBackend } from "../storage/backend.js";
import { formatLsn, parseLsn } from "../wal/names.js";
import type { Manifest } from "./manifest.js";
import { WalArchive } from "./wal-archive.js";
import { loadWalCatalog, reachFromBackup, type BackupReach, type WalCatalog } from "./wal-catalog.js";

/**
 * The point-in-time recovery window, as `status`, `wal verify` and the daemon's metrics report it:
 * every moment in [from, to] can be restored from one of `baseBackups` base backups and the
 * archived WAL, without crossing a gap.
 */
export interface RecoveryWindow {
  /** The earliest moment a restore can reach: when the oldest base backup inside the window became consistent. */
  from: string;
  /** About the latest: when the last gap-free WAL segment after the newest base backup was archived. */
  to: string;
  /** Base backups inside the window (older ones whose WAL stops at a gap are outside). */
  baseBackups: number;
  /** The oldest base backup inside the window and its consistency point. */
  earliest: { backupId: string; lsn: string };
  /** The newest base backup and the end of the gap-free WAL after it, on the timeline recovery follows. */
  latest: { backupId: string; lsn: string; segment?: string; timeline: number };
}

/** A physical base backup: its manifest carries the WAL positions recovery needs. */
export function isBaseBackup(m: Manifest): boolean {
  const d = m.details;
  return typeof d.startLsn === "string" && typeof d.stopLsn === "string" && typeof d.walSegmentSize === "number" && typeof d.consistentAt === "string";
}

/**
 * The recovery window of base backups sharing one WAL archive (catalog order: oldest first). It
 * ends where the gap-free WAL after the newest consistent base backup ends, and starts at the
 * oldest base backup from which the WAL runs without a gap to the next one: a gap cuts off every
 * base backup before it. undefined when no base backup can be made consistent from the archive.
 */
export function recoveryWindowOf(backups: readonly Manifest[], catalog: WalCatalog): RecoveryWindow | undefined {
  return windowOfReaches(reachOfBaseBackups(backups, catalog));
}

/** How far each base backup among `backups` rolls forward through the archive (catalog order kept). */
export function reachOfBaseBackups(backups: readonly Manifest[], catalog: WalCatalog): { m: Manifest; reach: BackupReach }[] {
  return backups.filter(isBaseBackup).map((m) => ({ m, reach: reachFromBackup(catalog, m) }));
}

/** The window of base backups of one source whose reach is already known (see reachOfBaseBackups). */
export function windowOfReaches(reaches: readonly { m: Manifest; reach: BackupReach }[]): RecoveryWindow | undefined {
  const usable = reaches.filter((x) => x.reach.consistent);
  const newest = usable.at(-1);
  if (!newest) return undefined;
  let earliest = newest;
  let count = 1;
  for (let i = usable.length - 2; i >= 0; i--) {
    const older = usable[i]!;
    if (older.reach.reachableLsn < parseLsn(String(earliest.m.details.startLsn))) break;
    earliest = older;
    count++;
  }
  return {
    from: String(earliest.m.details.consistentAt),
    to: newest.reach.reachableArchivedAt ?? String(newest.m.details.consistentAt),
    baseBackups: count,
    earliest: { backupId: earliest.m.id, lsn: String(earliest.m.details.stopLsn) },
    latest: { backupId: newest.m.id, lsn: formatLsn(newest.reach.reachableLsn), segment: newest.reach.lastSegment, timeline: newest.reach.targetTimeline },
  };
}

/**
 * Recovery windows per source. The WAL archive is read only when some backup is a base backup;
 * `unlock` is called only when timeline histories are encrypted, so timeline switches are followed
 * as `wal verify` follows them.
 */
export async function recoveryWindows(backend: StorageBackend, backups: readonly Manifest[], unlock?: () => Promise<AgeKeys | undefined>): Promise<Map<string, RecoveryWindow>> {
  const out = new Map<string, RecoveryWindow>();
  const bases = backups.filter(isBaseBackup);
  if (bases.length === 0) return out;
  const archive = new WalArchive(backend);
  const hint = bases.at(-1)!.details.walSegmentSize as number;
  let catalog = await loadWalCatalog(archive, undefined, hint);
  if (catalog.unreadHistories.length > 0 && unlock) catalog = await loadWalCatalog(archive, await unlock(), hint);
  for (const source of new Set(bases.map((m) => m.source.uri))) {
    const window = recoveryWindowOf(bases.filter((m) => m.source.uri === source), catalog);
    if (window) out.set(source, window);
  }
  return out;
}
