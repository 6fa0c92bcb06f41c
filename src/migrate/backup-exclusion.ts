import type { Settings } from "../config/load.js";
import { openRepository } from "../commands/open-repository.js";
import { acquireLock, scopeFor } from "../repository/lock.js";
import type { MigrationTarget } from "./target.js";

/**
 * With a repository configured, a change of schema holds the same repository lock a backup of this
 * database takes (scopeFor(source uri)): no migration starts while a backup of it runs, and no
 * backup starts while a migration runs (each waits up to --lock-wait, then refuses with LOCKED).
 */
export async function withBackupExclusion<T>(settings: Pick<Settings, "repo" | "passphrase" | "identities" | "s3" | "lockWaitMs">, target: MigrationTarget, purpose: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!settings.repo) return fn();
  const { repo } = await openRepository(settings, "no");
  const lock = await acquireLock(repo.backend, scopeFor(target.uri), `${purpose} of ${target.uri}`, { waitMs: settings.lockWaitMs, signal });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
