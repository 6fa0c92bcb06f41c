import type { StorageBackend } from "../storage/backend.js";
import { WAL_PREFIX, WAL_RECORD_SUFFIX } from "./layout.js";
import type { Manifest } from "./manifest.js";

/**
 * WAL clean-up for prune. Archived WAL lives under wal/<timeline>/ (see layout.ts). A physical
 * base backup can only be recovered with the WAL from its start segment on, so once retention
 * has decided which backups stay, every segment older than the oldest kept base backup's start
 * segment is needed by nothing inside the recovery window and can go.
 *
 * Contract with the physical engine: a physical backup's manifest records the first WAL segment
 * it needs as details.walStart (24 hex digits, e.g. "000000010000000000000003"). Backups
 * without it (SQLite, pg_dump) never hold WAL back; when no remaining backup records one, no WAL
 * is removed at all.
 */
const SEGMENT_PREFIX = /^[0-9A-F]{24}/;

export function walStartSegmentOf(manifest: Manifest): string | undefined {
  const value = manifest.details.walStart;
  return typeof value === "string" && /^[0-9A-F]{24}$/.test(value) ? value : undefined;
}

/** The oldest start segment among the backups that stay, or undefined when none needs WAL. */
export function oldestNeededSegment(remaining: readonly Manifest[]): string | undefined {
  const starts = remaining.map(walStartSegmentOf).filter((s): s is string => s !== undefined);
  // Compare the segment number (log id + segment), not the timeline: a later timeline's backup
  // still replays history that older timelines' files may hold.
  return starts.sort((a, b) => (a.slice(8) < b.slice(8) ? -1 : a.slice(8) > b.slice(8) ? 1 : 0))[0];
}

export interface WalCleanupResult {
  oldestNeeded: string;
  /** Keys removed (or that would be, on a dry run): records first, then their data. */
  removed: string[];
  kept: number;
}

/** Removes archived WAL older than oldestNeeded on every timeline; .history files always stay. */
export type WalCleanup = (backend: StorageBackend, oldestNeeded: string, options: { dryRun: boolean; signal?: AbortSignal }) => Promise<WalCleanupResult>;

export const removeWalBefore: WalCleanup = async (backend, oldestNeeded, { dryRun, signal }) => {
  const doomed: string[] = [];
  let kept = 0;
  for await (const obj of backend.list(WAL_PREFIX, { signal })) {
    const name = obj.key.slice(obj.key.lastIndexOf("/") + 1);
    const segment = SEGMENT_PREFIX.exec(name)?.[0];
    if (segment !== undefined && segment.slice(8) < oldestNeeded.slice(8)) doomed.push(obj.key);
    else kept++;
  }
  // The record is what makes a WAL file "archived": drop it before its data, like manifests.
  doomed.sort((a, b) => Number(b.endsWith(WAL_RECORD_SUFFIX)) - Number(a.endsWith(WAL_RECORD_SUFFIX)) || (a < b ? -1 : 1));
  if (!dryRun) for (const key of doomed) await backend.delete(key, { signal });
  return { oldestNeeded, removed: doomed, kept };
};
