import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, copyFile, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { shareWithServer, startRestored, switchAndWaitArchived } from "../support/pitr.js";
import { startS3, type S3Server } from "../support/s3.js";

/**
 * archive_command and restore_command are written into postgresql.conf / postgresql.auto.conf and
 * run by /bin/sh after PostgreSQL's %-substitution: a repository and a passphrase file whose paths
 * hold a space, both quotes, a backslash, a % and command substitutions work — and run nothing else.
 */
const marker = `/tmp/pwned-${randomUUID()}`;
const nasty = `a b"c'd\\e%p%%f $(touch ${marker}) \`touch ${marker}\``;

let ws: Workspace;
let cluster: PgCluster;
let repo: string;
let passphraseFile: string;
let env: Record<string, string>;
let targetTime: string;

const ids = async (q: (sql: string) => Promise<Record<string, unknown>[]>) => (await q("SELECT id FROM events ORDER BY id")).map((r) => Number(r.id));
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

beforeAll(async () => {
  ws = await workspace();
  const dir = join(ws.dir, nasty);
  await mkdir(dir, { recursive: true });
  repo = join(dir, "repo");
  passphraseFile = join(dir, "pass phrase 'x'.txt");
  await copyFile(ws.passphraseFile, passphraseFile);
  env = { ...ws.env, HOLDFAST_REPO: repo, HOLDFAST_PASSPHRASE_FILE: passphraseFile };
  const init = await runCli(["repo", "init", repo, "--encryption", "age", "--scrypt-work-factor", "10"], { env });
  expect(init.code, init.stderr).toBe(0);
  await shareWithServer(ws);
  // Archiving on, but the command comes from `holdfast setup-archiving` below: until then it fails and WAL waits.
  cluster = await startCluster({ initdbArgs: ["--wal-segsize=1"], conf: { wal_level: "replica", archive_mode: "on", archive_command: "'false'", max_wal_senders: "4" } });
});
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
  await rm(marker, { force: true });
});

describe("commands written into the PostgreSQL configuration, for any path", () => {
  it("setup-archiving's archive_command line, pasted into postgresql.conf, archives into the repository", async () => {
    const first = await runCli(["setup-archiving", cluster.url(), "--json"], { env });
    const report = JSON.parse(first.stdout) as { lines: string[]; checks: { name: string; ok: boolean }[] };
    const line = report.lines.find((l) => l.startsWith("archive_command = "))!;
    expect(line).toBeDefined();
    expect(report.checks.find((c) => c.name === "archive_command")!.ok).toBe(false); // still 'false'
    await appendFile(join(cluster.dataDir, "postgresql.conf"), `\n${line}\n`);
    await cluster.query("SELECT pg_reload_conf()");
    await sleep(300);
    const [setting] = await cluster.query<{ archive_command: string }>("SHOW archive_command");
    expect(setting!.archive_command).toContain(repo.replace(/%/g, "%%").replace(/'/g, "'\\''"));

    await cluster.query("CREATE TABLE events (id int PRIMARY KEY)");
    await cluster.query("INSERT INTO events SELECT generate_series(1, 10)");
    const segment = await switchAndWaitArchived((sql) => cluster.query(sql));
    const archived = await readdir(join(repo, "wal", "00000001"));
    expect(archived).toContain(`${segment}.json`);

    const again = await runCli(["setup-archiving", cluster.url(), "--json"], { env });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  it("a point-in-time restore with that repository and passphrase file works", async () => {
    const b = await runCli(["backup", "--type", "physical", cluster.url()], { env });
    expect(b.code, b.stderr).toBe(0);
    await cluster.query("INSERT INTO events SELECT generate_series(11, 20)");
    await sleep(300);
    targetTime = (await cluster.query<{ now: Date }>("SELECT clock_timestamp() AS now"))[0]!.now.toISOString();
    await sleep(300);
    await cluster.query("INSERT INTO events SELECT generate_series(21, 30)");
    await switchAndWaitArchived((sql) => cluster.query(sql));

    // pg_ctl itself puts the data directory in double quotes for /bin/sh: such a target is refused up front.
    const refused = await runCli(["restore", "--type", "physical", "--to", join(ws.dir, `data $(touch ${marker})`)], { env });
    expect(refused.code, refused.stderr).toBe(2);
    expect(errorLine(refused)).toMatch(/holds a character the shell interprets even inside the double quotes pg_ctl puts around it/);

    const to = join(ws.dir, "restored data 100%"); // (the test helper that starts it quotes with ')
    const r = await runCli(["restore", "--type", "physical", "--to", to, "--target-time", targetTime, "--json"], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).stoppedAt).toMatch(/recovery stopping before commit/);
    const auto = await readFile(join(to, "postgresql.auto.conf"), "utf8");
    expect(auto).toMatch(/restore_command = '.*wal-fetch-client\.js %f %p /);
    const server = await startRestored(to);
    try {
      expect(await ids((sql) => server.query(sql))).toEqual(range(1, 20));
    } finally {
      await server.stop();
    }
    expect(existsSync(marker)).toBe(false);
  });
});

describe("setup-archiving with an S3 repository", () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it("recognises its own archive_command for an s3:// repository", async () => {
    const s3env = { ...ws.env, ...s3.env, HOLDFAST_REPO: "s3://holdfast/conf-quoting" };
    const init = await runCli(["repo", "init", "s3://holdfast/conf-quoting", "--encryption", "none"], { env: s3env });
    expect(init.code, init.stderr).toBe(0);
    const first = JSON.parse((await runCli(["setup-archiving", cluster.url(), "--json"], { env: s3env })).stdout) as { lines: string[] };
    const line = first.lines.find((l) => l.startsWith("archive_command = "))!;
    expect(line).toContain("--repo s3://holdfast/conf-quoting");
    await cluster.query(`ALTER SYSTEM SET archive_command = ${line.slice("archive_command = ".length)}`);
    await cluster.query("SELECT pg_reload_conf()");
    await sleep(300);
    try {
      const report = JSON.parse((await runCli(["setup-archiving", cluster.url(), "--json"], { env: s3env })).stdout) as { checks: { name: string; ok: boolean }[] };
      expect(report.checks.find((c) => c.name === "archive_command")).toMatchObject({ ok: true });
    } finally {
      await cluster.query("ALTER SYSTEM RESET archive_command");
      await cluster.query("SELECT pg_reload_conf()");
    }
  });
});
