import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { z } from "zod";
import type { OperationOptions, StorageBackend, StoredObject } from "../storage/backend.js";
import { readJson, writeJson } from "./json-object.js";

/**
 * Claims: small objects with a lease, one per holder, each under its own unique key. They give
 * locks (repository/lock.ts) and "this backup is in use" marks (a restore reading a backup that
 * prune must leave alone) on any storage backend, with no atomic create-if-absent needed:
 *
 * A contender writes its own claim, then lists the folder. It wins only if the listing shows no
 * other live claim; otherwise it removes its claim and backs off. On a store whose listings see
 * every completed write (a local folder; S3, strongly consistent since 2020) two contenders can't
 * both win: if A's listing missed B's claim, B's write completed after A's listing began, so B's
 * listing, later still, shows A's claim and B backs off.
 *
 * A claim is live while its lease runs: the holder rewrites it every lease/4 (heartbeat). A claim
 * whose lease ran out, or whose process is gone from this very host, is stale: anyone may delete
 * it. Staleness never rests on the pid alone, so a lock left by another host (or a container that
 * was replaced) expires too.
 */
export const claimSchema = z.strictObject({
  formatVersion: z.literal(1),
  token: z.string(),
  purpose: z.string(),
  pid: z.number().int(),
  hostname: z.string(),
  startedAt: z.iso.datetime(),
  renewedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  /** Set once the claim won (locks): contenders that see it give up instead of retrying. */
  held: z.boolean(),
  /** What the claim is about (a backup id for "in use" marks). */
  subject: z.string().optional(),
});
export type Claim = z.infer<typeof claimSchema>;

/** How long a claim stays live without a heartbeat (HOLDFAST_LOCK_LEASE_MS overrides, e.g. in tests). */
export function defaultLeaseMs(): number {
  const text = process.env.HOLDFAST_LOCK_LEASE_MS;
  const n = text ? Number(text) : NaN;
  return Number.isFinite(n) && n >= 200 ? n : 120_000;
}

/** Clocks of different hosts differ: a lease counts as run out only this much after its expiry. */
const CLOCK_SKEW_MS = 5_000;

export interface HeldClaim {
  readonly key: string;
  readonly claim: Claim;
  /** Aborted when the claim was lost (another process judged it stale and removed it). */
  readonly signal: AbortSignal;
  /** Stop the heartbeat and remove the claim. Safe to call twice. */
  release(): Promise<void>;
}

export function newClaim(purpose: string, leaseMs: number, subject?: string): Claim {
  const now = new Date();
  return {
    formatVersion: 1,
    token: `${now.getTime().toString(36)}-${randomBytes(8).toString("hex")}`,
    purpose,
    pid: process.pid,
    hostname: hostname(),
    startedAt: now.toISOString(),
    renewedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + leaseMs).toISOString(),
    held: false,
    subject,
  };
}

export function claimKey(dir: string, claim: Claim): string {
  return `${dir}${claim.token}.json`;
}

export function isStale(claim: Claim, now = Date.now()): boolean {
  if (Date.parse(claim.expiresAt) + CLOCK_SKEW_MS < now) return true;
  return claim.hostname === hostname() && claim.pid !== process.pid && !processAlive(claim.pid);
}

/** Whether a process of this host still runs (EPERM: it does, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface LiveClaim {
  key: string;
  claim: Claim;
  object: StoredObject;
}

/**
 * The live claims under dir. Stale ones are deleted on the way (anyone may); unreadable ones count
 * as live until they are older than a lease (a claim being written is briefly unreadable on no
 * backend, but a damaged one must not block forever).
 */
export async function liveClaims(backend: StorageBackend, dir: string, options: OperationOptions & { leaseMs?: number } = {}): Promise<LiveClaim[]> {
  const out: LiveClaim[] = [];
  const now = Date.now();
  for await (const object of backend.list(dir, options)) {
    if (!object.key.endsWith(".json")) continue;
    const read = await readJson(backend, object.key, claimSchema, options);
    if (read.status === "missing") continue;
    if (read.status === "invalid") {
      if (now - object.modifiedAt.getTime() > (options.leaseMs ?? defaultLeaseMs()) + CLOCK_SKEW_MS) await backend.delete(object.key).catch(() => undefined);
      else out.push({ key: object.key, claim: { ...newClaim("unreadable claim", 0), token: object.key, hostname: "?", pid: 0 }, object });
      continue;
    }
    if (isStale(read.value, now)) {
      await backend.delete(object.key).catch(() => undefined);
      continue;
    }
    out.push({ key: object.key, claim: read.value, object });
  }
  return out;
}

/**
 * Write a claim and keep it alive until released. The heartbeat first checks the claim is still
 * there: one removed as stale is never written back (that would give two holders); the holder's
 * signal is aborted instead.
 */
export async function holdClaim(backend: StorageBackend, dir: string, claim: Claim, leaseMs: number, options: OperationOptions = {}): Promise<HeldClaim> {
  const key = claimKey(dir, claim);
  await writeJson(backend, key, claim, options);
  const lost = new AbortController();
  let current = claim;
  let released = false;
  let beating: Promise<void> = Promise.resolve();
  const beat = async (): Promise<void> => {
    if (released) return;
    try {
      if (!(await backend.stat(key))) {
        lost.abort(new Error(`the lease ${key} was lost (another process judged it stale)`));
        clearInterval(timer);
        return;
      }
      const now = Date.now();
      current = { ...current, renewedAt: new Date(now).toISOString(), expiresAt: new Date(now + leaseMs).toISOString() };
      if (!released) await writeJson(backend, key, current);
    } catch {
      // A missed heartbeat is not fatal: the lease is several heartbeats long.
    }
  };
  const timer = setInterval(() => {
    beating = beating.then(beat);
  }, Math.max(50, Math.floor(leaseMs / 4)));
  timer.unref();
  return {
    key,
    get claim() {
      return current;
    },
    signal: lost.signal,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await beating;
      await backend.delete(key).catch(() => undefined);
    },
  };
}

/** Mark a held claim as the winner (contenders then stop retrying). */
export async function markHeld(backend: StorageBackend, held: HeldClaim): Promise<void> {
  Object.assign(held.claim, { held: true });
  await writeJson(backend, held.key, held.claim);
}
