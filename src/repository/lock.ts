import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { HoldfastError } from "../errors.js";
import { supportsExclusiveCreate, type StorageBackend } from "../storage/backend.js";
import { lockKey } from "./layout.js";
import { readAllText } from "./read-text.js";

interface LockBody {
  pid: number;
  hostname: string;
  startedAt: string;
  purpose: string;
}

export interface LockOptions {
  /** How long to wait for a running holder before refusing; 0 refuses at once. */
  waitMs?: number;
  signal?: AbortSignal;
}

export interface HeldLock {
  release(): Promise<void>;
}

/** One lock per source (or other scope) per repository, so two backups never interleave. */
export function scopeFor(sourceUri: string): string {
  return createHash("sha256").update(sourceUri).digest("hex").slice(0, 16);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Take the lock or explain who holds it. A lock left by a process that died on this host (kill -9)
 * is taken over; one held on another host is respected until removed by hand.
 */
export async function acquireLock(backend: StorageBackend, scope: string, purpose: string, options: LockOptions = {}): Promise<HeldLock> {
  const key = lockKey(scope);
  const body: LockBody = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString(), purpose };
  const bytes = Buffer.from(JSON.stringify(body));
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (;;) {
    if (await tryCreate(backend, key, bytes)) {
      return { release: () => backend.delete(key) };
    }
    const holder = await readHolder(backend, key);
    if (holder === undefined) continue; // released between our attempt and the read
    if (holder && holder.hostname === body.hostname && !isAlive(holder.pid)) {
      await backend.delete(key); // stale: its process is gone
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder ? `pid ${holder.pid} on ${holder.hostname}, ${holder.purpose}, since ${holder.startedAt}` : "an unreadable lock";
      throw new HoldfastError("LOCKED", `another Holdfast process holds the lock for this source (${who})`, {
        hint: `wait for it to finish; if that process is gone, delete ${backend.location}/${key}`,
      });
    }
    await sleep(250, undefined, { signal: options.signal });
  }
}

async function tryCreate(backend: StorageBackend, key: string, bytes: Buffer): Promise<boolean> {
  if (supportsExclusiveCreate(backend)) return backend.createExclusive(key, bytes);
  // Backends without atomic create-if-absent: write, then read back to see who won.
  if (await backend.stat(key)) return false;
  await backend.put(key, Readable.from([bytes]));
  const after = await readAllText(await backend.get(key)).catch(() => "");
  return after === bytes.toString();
}

/** undefined when the lock vanished; null when present but unreadable. */
async function readHolder(backend: StorageBackend, key: string): Promise<LockBody | null | undefined> {
  try {
    const text = await readAllText(await backend.get(key));
    return JSON.parse(text) as LockBody;
  } catch (err) {
    if (err instanceof HoldfastError && err.code === "NOT_FOUND") return undefined;
    return null;
  }
}
