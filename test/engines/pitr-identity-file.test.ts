import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, identityOnlyEnv, runCli, workspace, type Workspace } from "../support/cli.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { shareWithServer, startArchivingCluster, startRestored, switchAndWaitArchived } from "../support/pitr.js";

/**
 * A passphrase repository opened with the identity file `holdfast key export` wrote: a
 * point-in-time restore and `wal-fetch` need neither the passphrase nor scrypt. The backup's
 * tar and every segment are still checked (stored hash, decryption, content hash) on the way.
 */
const exec = promisify(execFile);
const ROWS = 6;
let ws: Workspace;
let cluster: PgCluster;
let lastSegment: string;
/** Without passphrase: only the identity file opens the repository. */
let env: Record<string, string | undefined>;

beforeAll(async () => {
  ws = await workspace();
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws, { lean: true });
  await cluster.query("CREATE TABLE events (id int PRIMARY KEY, pad text NOT NULL)");
  await cluster.query("INSERT INTO events SELECT g, repeat(md5(g::text), 20) FROM generate_series(1001, 6000) g");
  const b = await runCli(["backup", "--type", "physical", cluster.url(), "--json"], { env: ws.env });
  expect(b.code, b.stderr).toBe(0);
  for (let i = 1; i <= ROWS; i++) {
    await cluster.query(`INSERT INTO events VALUES (${i}, md5('${i}'))`);
    await cluster.query("SELECT pg_switch_wal()");
  }
  lastSegment = await switchAndWaitArchived((sql) => cluster.query(sql));
  ({ env } = await identityOnlyEnv(ws));
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("point-in-time restore and wal-fetch with an identity file", () => {
  it("restores the base backup and replays the archived WAL without the passphrase", async () => {
    const dir = join(ws.dir, "restored");
    const r = await runCli(["restore", "--type", "physical", "--to", dir, "--json"], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).walFetch.fetched).toBeGreaterThanOrEqual(ROWS);
    expect(r.stdout + r.stderr).not.toContain("AGE-SECRET-KEY-1");
    const server = await startRestored(dir);
    try {
      const [row] = await server.query<{ n: string; small: string }>("SELECT count(*) AS n, count(*) FILTER (WHERE id <= 1000) AS small FROM events");
      expect(row).toEqual({ n: String(5000 + ROWS), small: String(ROWS) });
    } finally {
      await server.stop();
    }
  }, 120_000);

  it("wal-fetch writes the segment as archived (its recorded SHA-256)", async () => {
    const dest = join(ws.dir, "fetched-segment");
    const r = await runCli(["wal-fetch", lastSegment, dest], { env });
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(await readFile(join(ws.repo, "wal", lastSegment.slice(0, 8), `${lastSegment}.json`), "utf8"));
    const bytes = await readFile(dest);
    expect(bytes.length).toBe(record.file.contentBytes);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(record.file.contentSha256);
  });

  it("wal-fetch with an identity file of other keys: exit 8, nothing written", async () => {
    const other = join(ws.dir, "other.txt");
    await exec("age-keygen", ["-o", other]);
    const dest = join(ws.dir, "not-fetched");
    const r = await runCli(["wal-fetch", lastSegment, dest], { env: { ...env, HOLDFAST_IDENTITY_FILE: other } });
    expect(r.code).toBe(8);
    expect(errorLine(r)).toBe(`the identity file holds none of the keys of the repository at ${ws.repo}`);
    await expect(readFile(dest)).rejects.toThrow();
  });
});
