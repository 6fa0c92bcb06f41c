import { execFile } from "node:child_process";
import { chmod, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, identityOnlyEnv, runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { countRows, createDatabase } from "../support/sqlite.js";

/**
 * A passphrase repository read with the identity file `holdfast key export` wrote: restore and deep
 * verify need no passphrase (no scrypt, no key file); a file of other keys is WRONG_KEY, and a file
 * its group or others may read is refused before it is used.
 */
const exec = promisify(execFile);
let ws: Workspace;
let cluster: PgCluster;
let identity: string;
let sqliteId: string;
let pgId: string;
/** The workspace without its passphrase: only the identity file can open the backups. */
let env: Record<string, string | undefined>;

beforeAll(async () => {
  ws = await workspace();
  cluster = await startCluster();
  await cluster.query("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 2000) g");
  const db = join(ws.dir, "app.db");
  createDatabase(db, 500);
  const s = await runCli(["backup", `sqlite:${db}`, "--json"], { env: ws.env });
  expect(s.code, s.stderr).toBe(0);
  sqliteId = JSON.parse(s.stdout).id;
  const p = await runCli(["backup", cluster.url(), "--json"], { env: ws.env });
  expect(p.code, p.stderr).toBe(0);
  pgId = JSON.parse(p.stdout).id;
  ({ identity, env } = await identityOnlyEnv(ws));
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("--identity-file on a passphrase repository", () => {
  it("control: without passphrase or identity the backups stay closed", async () => {
    const r = await runCli(["restore", sqliteId, "--to", join(ws.dir, "closed.db")], { env: { ...env, HOLDFAST_IDENTITY_FILE: undefined } });
    expect(r.code).toBe(8);
  });

  it("restores a SQLite backup (HOLDFAST_IDENTITY_FILE) and a PostgreSQL backup (--identity-file) without the passphrase", async () => {
    const to = join(ws.dir, "restored.db");
    const r = await runCli(["restore", sqliteId, "--to", to], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(countRows(to, "items")).toBe(500);

    const target = cluster.url("from_identity");
    const pg = await runCli(["--identity-file", identity, "restore", pgId, "--to", target], { env: { ...env, HOLDFAST_IDENTITY_FILE: undefined } });
    expect(pg.code, pg.stderr).toBe(0);
    expect(await cluster.query<{ n: string }>("SELECT count(*) AS n FROM t", "from_identity")).toEqual([{ n: "2000" }]);
    expect(r.stdout + r.stderr + pg.stdout + pg.stderr).not.toContain("AGE-SECRET-KEY-1");
  });

  it("verify --deep reads and restores with it", async () => {
    const r = await runCli(["verify", sqliteId, "--deep", "--json"], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).ok).toBe(true);
  });

  it("an identity file of other keys: exit 8, one line, nothing restored", async () => {
    const other = join(ws.dir, "other.txt");
    await exec("age-keygen", ["-o", other]);
    const to = join(ws.dir, "wrong.db");
    const r = await runCli(["restore", sqliteId, "--to", to], { env: { ...env, HOLDFAST_IDENTITY_FILE: other } });
    expect(r.code).toBe(8);
    expect(errorLine(r)).toBe(`the identity file holds none of the keys of the repository at ${ws.repo}`);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("holdfast: error: "))).toHaveLength(1);
    await expect(readFile(to)).rejects.toThrow();
  });

  it.each([0o640, 0o604])("an identity file of mode %o is refused before it is read", async (mode) => {
    const loose = join(ws.dir, `loose-${mode.toString(8)}.txt`);
    await exec("cp", [identity, loose]);
    await chmod(loose, mode);
    const r = await runCli(["restore", sqliteId, "--to", join(ws.dir, "loose.db")], { env: { ...env, HOLDFAST_IDENTITY_FILE: loose } });
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe(`identity file ${loose} is readable by its group or others (mode 0${mode.toString(8)}): it opens every backup`);
  });
});
