import { setTimeout as sleep } from "node:timers/promises";
import { HoldfastError } from "../errors.js";
import type { StorageBackend } from "../storage/backend.js";
import { acquireLock, heldLocks, KEYS_SCOPE } from "./lock.js";

export interface KeyLockOptions {
  /** How long to wait for another key change (and, with drainWriters, for running backups). */
  waitMs: number;
  signal?: AbortSignal;
  /**
   * Also wait until no backup or restore holds a lock (rotation: a backup started before the switch
   * is encrypted to the previous key, which the keyring keeps, but new backups should not be).
   */
  drainWriters?: boolean;
}

/** Scopes whose holders never encrypt anything: a rotation need not wait for them. */
const NOT_WRITERS = new Set([KEYS_SCOPE, "prune", "in-use"]);

/**
 * Run a change of the repository's keys under the repository-wide "keys" lock, so two key changes
 * (two rotations, a rotation and a passphrase change, two offsite syncs) never interleave and lose
 * a key: each reads the key file after it holds the lock.
 */
export async function withKeysLock<T>(backend: StorageBackend, purpose: string, options: KeyLockOptions, run: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(backend, KEYS_SCOPE, purpose, { waitMs: options.waitMs, signal: options.signal });
  try {
    if (options.drainWriters) await waitForWriters(backend, Date.now() + options.waitMs, options.signal);
    return await run();
  } finally {
    await lock.release();
  }
}

async function waitForWriters(backend: StorageBackend, deadline: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const writers = (await heldLocks(backend)).filter((l) => !NOT_WRITERS.has(l.scope));
    if (writers.length === 0) return;
    if (Date.now() >= deadline) {
      const c = writers[0]!.claim;
      throw new HoldfastError("LOCKED", `cannot rotate the key while ${writers.length} backup(s) or restore(s) run (${c.purpose}, pid ${c.pid} on ${c.hostname}, since ${c.startedAt})`, {
        hint: "run it again when they finish, or give --lock-wait so it waits for them",
      });
    }
    await sleep(250, undefined, { signal });
  }
}
