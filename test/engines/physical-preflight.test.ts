import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { errorLine, runCli, workspace, type RunResult, type Workspace } from "../support/cli.js";
import { mountSmallDisk, type SmallDisk } from "../support/faults.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { shareWithServer, startArchivingCluster, switchAndWaitArchived } from "../support/pitr.js";

/**
 * Before a physical restore writes anything it checks what would otherwise fail deep inside
 * PostgreSQL's recovery (or its server log): the OS user recovery runs as ("postgres", the owner
 * the base backup's tar names) can reach the target and the program; the target is absent or empty;
 * there is room. The repository and the passphrase stay the restoring process's own: recovery gets
 * its WAL through the restore's fetch service. Each failure is one line naming the file and the user.
 */
let ws: Workspace;
let cluster: PgCluster;

const restore = (to: string, env: Record<string, string> = {}): Promise<RunResult> =>
  runCli(["restore", "--type", "physical", "--to", to], { env: { ...ws.env, ...env } });

function expectOneLine(r: RunResult, code: number, message: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  expect(errorLine(r)).toMatch(message);
  expect(r.stderr.split("\n").filter((l) => l.startsWith("holdfast: error: "))).toHaveLength(1);
}

/** Nothing written: no target, no saved server log next to it. */
function expectUntouched(to: string): void {
  expect(existsSync(to)).toBe(false);
  expect(existsSync(`${to}.holdfast-recovery.log`)).toBe(false);
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("these tests change file owners and mount a tmpfs: run them as root (as CI does)");
  ws = await workspace();
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws, { lean: true });
  await cluster.query("CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g");
  const b = await runCli(["backup", "--type", "physical", cluster.url()], { env: ws.env });
  expect(b.code, b.stderr).toBe(0);
  await switchAndWaitArchived((sql) => cluster.query(sql));
});
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("physical restore preflight", () => {
  it("recovery needs neither the passphrase file nor the repository to be readable by the postgres user: the restoring process serves the WAL", async () => {
    const secret = join(ws.dir, "root-only-pass.txt");
    await copyFile(ws.passphraseFile, secret);
    await chown(secret, 0, 0);
    await chmod(secret, 0o600);
    await chown(ws.repo, 0, 0);
    await chmod(ws.repo, 0o700);
    const to = join(ws.dir, "t-private");
    try {
      const r = await runCli(["restore", "--type", "physical", "--to", to, "--json"], { env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: secret } });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).walFetch.fetched).toBeGreaterThan(0);
      expect(existsSync(join(to, "PG_VERSION"))).toBe(true);
    } finally {
      execFileSync("chown", ["postgres:postgres", ws.repo]);
    }
  });

  it("names the folder on the way to the target that the postgres user cannot enter", async () => {
    const closed = join(ws.dir, "closed");
    await mkdir(closed, { mode: 0o700 });
    await chown(closed, 0, 0);
    const to = join(closed, "data");
    const r = await restore(to);
    expectOneLine(r, 17, new RegExp(`^the PostgreSQL OS user "postgres" cannot enter the folder ${closed} on the way to the restore target ${to} \\(needed by restore_command\\)$`));
    expectUntouched(to);
  });

  it("refuses a non-empty target and leaves it as it was", async () => {
    const to = join(ws.dir, "t-busy");
    await mkdir(to);
    await writeFile(join(to, "keep.txt"), "mine");
    const r = await restore(to);
    expectOneLine(r, 18, new RegExp(`^${to} is not empty$`));
    expect(await readdir(to)).toEqual(["keep.txt"]);
  });

  describe("on a volume too small for the base backup", () => {
    let disk: SmallDisk;
    beforeAll(async () => {
      disk = await mountSmallDisk(join(ws.dir, "tiny"), 2);
    });
    afterAll(async () => {
      await disk?.unmount();
    });

    it("fails with NO_SPACE before writing anything", async () => {
      const to = join(disk.path, "data");
      const r = await restore(to);
      expectOneLine(r, 15, new RegExp(`^not enough free space for the restore at ${disk.path}: [\\d.]+ MiB free, the base backup needs [\\d.]+ MiB plus [\\d.]+ MiB for WAL and margin$`));
      expect(await readdir(disk.path)).toEqual([]);
    });
  });
});
