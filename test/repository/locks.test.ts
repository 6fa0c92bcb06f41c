import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireLock, lockDir } from "../../src/repository/lock.js";
import { LocalBackend } from "../../src/storage/local.js";
import { openBackend } from "../../src/storage/open.js";
import type { StorageBackend } from "../../src/storage/backend.js";
import { HoldfastError } from "../../src/errors.js";
import { startS3, type S3Server } from "../support/s3.js";
import { writeLockClaim } from "../support/locks.js";

/**
 * Locks hold across hosts and restarts: leases with a heartbeat and an expiry, the same on a local
 * folder and on an S3 server without conditional writes (s3rver), and racing writers never both win.
 */
let dir: string;
let s3: S3Server;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "holdfast-locks-"));
  s3 = await startS3(["locks"]);
  Object.assign(process.env, s3.env);
}, 60_000);
afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

function backends(): [string, () => StorageBackend][] {
  return [
    ["local folder", () => new LocalBackend(join(dir, "repo"))],
    ["s3rver", () => openBackend(`s3://locks/${Math.random().toString(36).slice(2)}`, { s3: { endpoint: s3.env.HOLDFAST_S3_ENDPOINT } })],
  ];
}

describe.each(backends())("locks on %s", (_name, make) => {
  it("racing writers: exactly one holds at any time, every one gets its turn", async () => {
    const backend = make();
    const spans: [number, number][] = [];
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        const lock = await acquireLock(backend, "race", "race test", { waitMs: 60_000 });
        const start = performance.now();
        await sleep(60);
        spans.push([start, performance.now()]);
        await lock.release();
      }),
    );
    expect(spans).toHaveLength(6);
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0], `holder ${i} started before holder ${i - 1} released`).toBeGreaterThanOrEqual(spans[i - 1]![1]);
  }, 60_000);

  it("a live holder is refused with who holds it; the heartbeat keeps a short lease alive", async () => {
    const backend = make();
    const held = await acquireLock(backend, "live", "backup of live test", { leaseMs: 600 });
    try {
      for (let i = 0; i < 4; i++) {
        await sleep(400); // past the lease length: only the heartbeat keeps it
        const err = await acquireLock(backend, "live", "second", { leaseMs: 600 }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(HoldfastError);
        expect((err as HoldfastError).code).toBe("LOCKED");
        expect((err as HoldfastError).message).toMatch(/backup of live test, pid \d+ on /);
      }
      expect(held.signal.aborted).toBe(false);
    } finally {
      await held.release();
    }
    const again = await acquireLock(backend, "live", "after release");
    await again.release();
  }, 60_000);
});

describe("stale locks (local folder)", () => {
  it("a lock of another host whose lease ran out is taken over; one still leased is respected", async () => {
    const repo = join(dir, "stale");
    const backend = new LocalBackend(repo);
    await writeLockClaim(repo, "other-host", { host: "some-other-host", pid: 4242, expiresAt: new Date(Date.now() + 3_600_000), purpose: "backup on another host" });
    const refused = await acquireLock(backend, "other-host", "mine").catch((e: unknown) => e);
    expect((refused as HoldfastError).code).toBe("LOCKED");
    expect((refused as HoldfastError).message).toContain("backup on another host, pid 4242 on some-other-host");

    await writeLockClaim(repo, "expired", { host: "some-other-host", pid: 4242, expiresAt: new Date(Date.now() - 60_000) });
    const taken = await acquireLock(backend, "expired", "mine");
    // The expired claim was removed; ours is the only one.
    expect(await readdir(join(repo, lockDir("expired")))).toHaveLength(1);
    await taken.release();
    expect(await readdir(join(repo, lockDir("expired"))).catch(() => [])).toHaveLength(0);
  });

  it("a lock of a process that died on this host is taken over at once, whatever its lease", async () => {
    const repo = join(dir, "dead");
    await writeLockClaim(repo, "dead", { pid: 2 ** 22 + 17, expiresAt: new Date(Date.now() + 3_600_000) });
    const lock = await acquireLock(new LocalBackend(repo), "dead", "mine");
    await lock.release();
  });
});
