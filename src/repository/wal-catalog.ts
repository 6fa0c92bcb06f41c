import type { AgeKeys } from "../pipeline/age.js";
import { parseHistory, parseLsn, type TimelineSwitch } from "../wal/names.js";
import type { Manifest } from "./manifest.js";
import { WalArchive, type ArchivedWalFile } from "./wal-archive.js";
import { summariseTimelines, timelinePath, walkChain, type ChainWalk, type TimelineSummary } from "./wal-chain.js";

/** What the archive holds, read once: segment names, timelines and their histories. */
export interface WalCatalog {
  files: ArchivedWalFile[];
  segments: Set<string>;
  archivedAt: Map<string, Date>;
  /** Parsed .history files by timeline (only when they could be read: key given or plaintext). */
  histories: Map<number, TimelineSwitch[]>;
  /** Timelines with a .history file that could not be read (no key). */
  unreadHistories: number[];
  segmentSize?: number;
  timelines: TimelineSummary[];
}

export async function loadWalCatalog(archive: WalArchive, keys: AgeKeys | undefined, segmentSizeHint?: number): Promise<WalCatalog> {
  const files = await archive.list();
  const segmentFiles = files.filter((f) => f.kind === "segment");
  const segments = new Set(segmentFiles.map((f) => f.name));
  const archivedAt = new Map(files.map((f) => [f.name, f.archivedAt]));
  let segmentSize = segmentSizeHint;
  if (segmentSize === undefined && segmentFiles[0]) segmentSize = (await archive.record(segmentFiles[0].name))?.file.contentBytes;
  const histories = new Map<number, TimelineSwitch[]>();
  const unreadHistories: number[] = [];
  for (const f of files.filter((x) => x.kind === "history")) {
    try {
      const text = await archive.readText(f.name, keys);
      if (text !== undefined) histories.set(f.timeline, parseHistory(text));
    } catch {
      unreadHistories.push(f.timeline);
    }
  }
  const timelines = segmentSize ? summariseTimelines(segmentFiles, segmentSize) : [];
  return { files, segments, archivedAt, histories, unreadHistories, segmentSize, timelines };
}

/** The newest timeline descending from (or equal to) `from`, as recovery_target_timeline=latest picks. */
export function latestTimeline(catalog: WalCatalog, from: number): number {
  let best = from;
  for (const [tl, history] of catalog.histories) {
    if (tl > best && history.some((h) => h.timeline === from)) best = tl;
  }
  return best;
}

export interface BackupReach extends ChainWalk {
  backupId: string;
  targetTimeline: number;
  /** The backup's own WAL (start to stop segment) is all there: it can be made consistent. */
  consistent: boolean;
  /** When the last reachable segment was archived: the newest moment a restore can reach is before this. */
  reachableArchivedAt?: string;
}

/** How far recovery from this base backup can get along the target (default: latest) timeline. */
export function reachFromBackup(catalog: WalCatalog, manifest: Manifest, targetTimeline?: number): BackupReach {
  const d = manifest.details as { timeline: number; startLsn: string; stopLsn: string; walSegmentSize: number };
  const seg = catalog.segmentSize ?? d.walSegmentSize;
  const target = targetTimeline ?? latestTimeline(catalog, d.timeline);
  const history = target === d.timeline ? [] : (catalog.histories.get(target) ?? []);
  const walk = walkChain(parseLsn(d.startLsn), timelinePath(target, history), catalog.segments, seg);
  const consistent = walk.reachableLsn >= parseLsn(d.stopLsn);
  const archived = walk.lastSegment ? catalog.archivedAt.get(walk.lastSegment) : undefined;
  return { ...walk, backupId: manifest.id, targetTimeline: target, consistent, reachableArchivedAt: archived?.toISOString() };
}
