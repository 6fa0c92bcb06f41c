import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";

/**
 * Write a lock claim the way a running Holdfast process does (repository/claims.ts format) into a
 * local repository, held by `pid` on this host (or another host) with a lease until `expiresAt`.
 * Returns the claim's path: removing it releases the lock.
 */
export async function writeLockClaim(repo: string, scope: string, options: { pid?: number; host?: string; startedAt?: Date; expiresAt?: Date; purpose?: string } = {}): Promise<string> {
  const dir = join(repo, "locks", scope);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const token = `test-${randomBytes(6).toString("hex")}`;
  const now = new Date();
  const claim = {
    formatVersion: 1,
    token,
    purpose: options.purpose ?? "backup of test",
    pid: options.pid ?? process.pid,
    hostname: options.host ?? hostname(),
    startedAt: (options.startedAt ?? now).toISOString(),
    renewedAt: now.toISOString(),
    expiresAt: (options.expiresAt ?? new Date(now.getTime() + 3_600_000)).toISOString(),
    held: true,
  };
  const path = join(dir, `${token}.json`);
  await writeFile(path, JSON.stringify(claim), { mode: 0o600 });
  return path;
}
