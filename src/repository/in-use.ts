import type { StorageBackend } from "../storage/backend.js";
import { defaultLeaseMs, holdClaim, liveClaims, newClaim, type HeldClaim } from "./claims.js";
import { LOCKS_PREFIX } from "./layout.js";

/** Where "this backup is being read" claims live (one per reader, with a lease). */
export const IN_USE_DIR = `${LOCKS_PREFIX}in-use/`;

/**
 * Mark a backup as being read (a restore, a copy) for as long as the reader runs: prune leaves it
 * in place even when retention would remove it. Shared, not exclusive: many readers may hold one.
 */
export function markInUse(backend: StorageBackend, backupId: string, purpose: string, signal?: AbortSignal): Promise<HeldClaim> {
  const leaseMs = defaultLeaseMs();
  return holdClaim(backend, IN_USE_DIR, newClaim(purpose, leaseMs, backupId), leaseMs, { signal });
}

/** Ids of backups some live reader holds. */
export async function backupsInUse(backend: StorageBackend): Promise<Set<string>> {
  const out = new Set<string>();
  for (const c of await liveClaims(backend, IN_USE_DIR)) if (c.claim.subject) out.add(c.claim.subject);
  return out;
}
