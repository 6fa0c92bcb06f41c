import type { StorageBackend } from "../storage/backend.js";
import { timeOfBackupId } from "./backup-id.js";
import type { Claim } from "./claims.js";
import { heldLocks, KEYS_SCOPE } from "./lock.js";
import type { IncompleteBackup } from "./repository.js";

/** An interrupted backup is removed by prune once its last write is this old (and no lock is held for it). */
export const INCOMPLETE_MIN_AGE_MS = 3_600_000;

/**
 * What an id without a manifest is, judged the same way by `list`, `check` and `prune`:
 *  - being written: the lock of its source is held (by a live lease), so a backup may be writing it;
 *  - interrupted: nobody holds that lock; not restorable; prune removes it once `removableAfter` passed.
 */
export interface IncompleteVerdict {
  id: string;
  state: "being-written" | "interrupted";
  source?: string;
  engine?: string;
  kind?: string;
  startedAt: string;
  lastWrittenAt: string;
  /** When prune will remove it (interrupted only). */
  removableAfter?: string;
  /** Who holds the lock, when being written. */
  writer?: string;
}

export async function judgeIncomplete(backend: StorageBackend, incomplete: readonly IncompleteBackup[], minAgeMs = INCOMPLETE_MIN_AGE_MS): Promise<IncompleteVerdict[]> {
  if (incomplete.length === 0) return [];
  const locks = await heldLocks(backend);
  return incomplete.map((b) => judgeOne(b, locks, minAgeMs));
}

export function judgeOne(b: IncompleteBackup, locks: readonly { scope: string; claim: Claim }[], minAgeMs: number): IncompleteVerdict {
  const r = b.reservation;
  const startedAt = r?.startedAt ?? safeTime(b.id);
  // Old backups without a reservation: any lock taken before the id's second might be its writer.
  const holder = r
    ? locks.find((l) => l.scope === r.lockScope)
    : locks.find((l) => l.scope !== "prune" && l.scope !== "in-use" && l.scope !== KEYS_SCOPE && Date.parse(l.claim.startedAt) <= Date.parse(startedAt) + 1000);
  const base = { id: b.id, source: r?.source, engine: r?.engine, kind: r?.kind, startedAt, lastWrittenAt: b.lastWrittenAt };
  if (holder) return { ...base, state: "being-written", writer: `${holder.claim.purpose}, pid ${holder.claim.pid} on ${holder.claim.hostname}` };
  const removableAfter = new Date(Math.max(Date.parse(b.lastWrittenAt), Date.parse(startedAt)) + minAgeMs).toISOString();
  return { ...base, state: "interrupted", removableAfter };
}

/** One line, worded the same in every command. */
export function describeIncomplete(v: IncompleteVerdict): string {
  const what = `backup ${v.id}${v.source ? ` of ${v.source}` : ""}`;
  if (v.state === "being-written") return `${what} is being written (${v.writer}); not restorable until it completes`;
  return `${what} was interrupted (started ${v.startedAt}, last written ${v.lastWrittenAt}): it has no manifest and cannot be restored; \`holdfast prune\` removes it from ${v.removableAfter}`;
}

function safeTime(id: string): string {
  try {
    return timeOfBackupId(id).toISOString();
  } catch {
    return new Date(0).toISOString();
  }
}
