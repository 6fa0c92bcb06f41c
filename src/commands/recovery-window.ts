import { parseLsn } from "../wal/names.js";
import type { Manifest } from "../repository/manifest.js";
import { WalArchive } from "../repository/wal-archive.js";
import { loadWalCatalog, reachFromBackup, type WalCatalog } from "../repository/wal-catalog.js";
import type { StorageBackend } from "../storage/backend.js";

export interface RecoveryWindow {
  /** The earliest moment a point-in-time restore can reach (oldest usable base backup consistent). */
  from: string;
  /** About the latest: when the last gap-free WAL segment after the newest base backup was archived. */
  to: string;
  baseBackups: number;
}

function isPhysical(m: Manifest): boolean {
  const d = m.details;
  return typeof d.startLsn === "string" && typeof d.stopLsn === "string" && typeof d.walSegmentSize === "number" && typeof d.consistentAt === "string";
}

/**
 * The point-in-time recovery window of one source: from the oldest base backup from which the WAL
 * runs without a gap to the newest one, to the end of the gap-free WAL after the newest. undefined
 * without base backups or when none can be made consistent from the archive.
 */
export function recoveryWindowOf(backups: readonly Manifest[], catalog: WalCatalog): RecoveryWindow | undefined {
  const usable = backups.filter(isPhysical).filter((m) => reachFromBackup(catalog, m).consistent);
  const newest = usable.at(-1);
  if (!newest) return undefined;
  // Walk back while each older base backup's gap-free WAL reaches the next one's start: the
  // window is contiguous only that far.
  let from = newest;
  let count = 1;
  for (let i = usable.length - 2; i >= 0; i--) {
    const older = usable[i]!;
    if (reachFromBackup(catalog, older).reachableLsn < parseLsn(String(from.details.startLsn))) break;
    from = older;
    count++;
  }
  const to = reachFromBackup(catalog, newest).reachableArchivedAt ?? String(newest.details.consistentAt);
  return { from: String(from.details.consistentAt), to, baseBackups: count };
}

/** Recovery windows per source, reading the WAL archive only when some backup is a base backup. */
export async function recoveryWindows(backend: StorageBackend, backups: readonly Manifest[]): Promise<Map<string, RecoveryWindow>> {
  const out = new Map<string, RecoveryWindow>();
  if (!backups.some(isPhysical)) return out;
  const catalog = await loadWalCatalog(new WalArchive(backend), undefined);
  for (const source of new Set(backups.filter(isPhysical).map((m) => m.source.uri))) {
    const window = recoveryWindowOf(backups.filter((m) => m.source.uri === source), catalog);
    if (window) out.set(source, window);
  }
  return out;
}
