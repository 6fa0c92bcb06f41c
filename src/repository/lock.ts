import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { HoldfastError } from "../errors.js";
import type { StorageBackend } from "../storage/backend.js";
import { defaultLeaseMs, holdClaim, liveClaims, markHeld, newClaim, type Claim, type HeldClaim } from "./claims.js";
import { LOCKS_PREFIX } from "./layout.js";

export interface LockOptions {
  /** How long to wait for a running holder before refusing; 0 refuses at once. */
  waitMs?: number;
  signal?: AbortSignal;
  /** Lease length (default 2 min, renewed every quarter of it). */
  leaseMs?: number;
}

export interface HeldLock {
  /** Aborted if the lock was lost (its lease expired and another process took it). */
  readonly signal: AbortSignal;
  release(): Promise<void>;
}

/** The repository-wide scope of key changes (repository/key-lock.ts). */
export const KEYS_SCOPE = "keys";

/** One lock per source (or other scope) per repository, so two backups never interleave. */
export function scopeFor(sourceUri: string): string {
  return createHash("sha256").update(sourceUri).digest("hex").slice(0, 16);
}

export function lockDir(scope: string): string {
  return `${LOCKS_PREFIX}${scope}/`;
}

/** Contenders that meet only other contenders (nobody holds yet) back off and retry this often. */
const CONTENTION_ROUNDS = 40;

/**
 * Take the lock or explain who holds it. Built on claims (repository/claims.ts): works the same on
 * a local folder and on any S3 server, a holder that died (kill -9 here, or another host that
 * stopped renewing its lease) is taken over, and two racing writers never both win.
 */
export async function acquireLock(backend: StorageBackend, scope: string, purpose: string, options: LockOptions = {}): Promise<HeldLock> {
  const dir = lockDir(scope);
  const leaseMs = options.leaseMs ?? defaultLeaseMs();
  const deadline = Date.now() + (options.waitMs ?? 0);
  let contention = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const mine = await holdClaim(backend, dir, newClaim(purpose, leaseMs), leaseMs, { signal: options.signal });
    let others;
    try {
      others = (await liveClaims(backend, dir, { signal: options.signal, leaseMs })).filter((c) => c.key !== mine.key);
    } catch (err) {
      await mine.release();
      throw err;
    }
    if (others.length === 0) {
      await markHeld(backend, mine);
      return lockFrom(mine);
    }
    await mine.release();
    const holder = others.find((o) => o.claim.held);
    if (!holder && contention++ < CONTENTION_ROUNDS) {
      // Only contenders, nobody holds it: back off a random moment so one of us goes first.
      await sleep(20 + Math.random() * 120, undefined, { signal: options.signal });
      continue;
    }
    if (Date.now() >= deadline) {
      const who = describeHolder((holder ?? others[0]!).claim);
      throw new HoldfastError("LOCKED", `another Holdfast process holds the lock for this ${scope === "prune" ? "repository's prune" : scope === KEYS_SCOPE ? "repository's keys" : "source"} (${who})`, {
        hint: `wait for it to finish (or use --lock-wait); a holder that died is taken over automatically once its lease runs out (${Math.round(leaseMs / 1000)} s), or at once on the same host`,
      });
    }
    await sleep(250 + Math.random() * 250, undefined, { signal: options.signal });
  }
}

function lockFrom(held: HeldClaim): HeldLock {
  return { signal: held.signal, release: () => held.release() };
}

function describeHolder(c: Claim): string {
  return `${c.purpose}, pid ${c.pid} on ${c.hostname}, since ${c.startedAt}, lease until ${c.expiresAt}`;
}

/** Live locks of the repository (for prune: an interrupted-looking backup may be in progress). */
export async function heldLocks(backend: StorageBackend): Promise<{ scope: string; claim: Claim }[]> {
  const scopes = new Set<string>();
  for await (const obj of backend.list(LOCKS_PREFIX)) {
    const rest = obj.key.slice(LOCKS_PREFIX.length);
    const slash = rest.indexOf("/");
    if (slash > 0) scopes.add(rest.slice(0, slash));
  }
  const out: { scope: string; claim: Claim }[] = [];
  for (const scope of scopes) for (const c of await liveClaims(backend, lockDir(scope))) out.push({ scope, claim: c.claim });
  return out;
}
