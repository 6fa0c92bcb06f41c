import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { cp, mkdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { EXIT_CODES } from "../src/errors.js";
import { sealed } from "../src/repository/json-object.js";
import { waitFor } from "./support/http.js";
import { errorLine, runCli, startCli, workspace, type RunResult, type Workspace } from "./support/cli.js";
import { writeLockClaim } from "./support/locks.js";
import postgres from "pg";
import { startCluster, type PgCluster } from "./support/pg-cluster.js";
import { createDatabase } from "./support/sqlite.js";
import { flipByte } from "./support/damage.js";
import { mountSmallDisk } from "./faults/small-disk.js";

/**
 * The README's exit-code table, walked row by row: every documented code is one the CLI uses
 * (src/errors.ts EXIT_CODES) and every code is produced here by a real command on real parts,
 * with one error line and no stack trace. A code nobody can cause on purpose names its reason.
 */
const README = join(import.meta.dirname, "..", "README.md");

/** Codes no test can cause on purpose, and why. */
const CANNOT_PRODUCE: Record<number, string> = {
  [EXIT_CODES.INTERNAL]: "an unexpected internal error is a defect: every failure a user can cause or meet has its own code",
};

const PASSWORD = "Exit-codes-pw-2718";
let ws: Workspace;
let pg: PgCluster;
/** One SQLite file per scenario that backs it up, so no two share a source lock. */
const sqlite = (name: string) => join(ws.dir, `${name}.db`);
let backups: { main: string; corrupt: string; truncate: string; manifest: string; pg: string };

async function backup(source: string, env: Record<string, string | undefined> = ws.env): Promise<string> {
  const r = await runCli(["backup", source, "--json"], { env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).id as string;
}

/** A manifest's first stored file: its key and stored size. */
async function firstFile(id: string): Promise<{ key: string; path: string; size: number }> {
  const m = JSON.parse((await runCli(["show", id, "--json"], { env: ws.env })).stdout);
  return { key: m.files[0].key, path: join(ws.repo, m.files[0].key), size: m.files[0].storedBytes };
}

const tcpUrl = (db: string, password?: string) => `postgres://app${password ? `:${password}` : ""}@127.0.0.1:${pg.port}/${db}`;

/** A plaintext export of the items table of one SQLite file, made once for the import scenarios. */
let itemsExport: Promise<string> | undefined;
function exportOfItems(): Promise<string> {
  itemsExport ??= (async () => {
    const file = join(ws.dir, "items.export");
    const r = await runCli(["export", `sqlite:${sqlite("import-source")}`, "--table", "items", "--out", file, "--encryption", "none"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    return file;
  })();
  return itemsExport;
}

/** A SQLite import target made by SQL. */
function importTarget(name: string, sql: string): string {
  execFileSync("sqlite3", [sqlite(name), sql]);
  return sqlite(name);
}

/** What each row's scenario runs, and the error line it must print (undefined for success). */
type Scenario = () => Promise<{ result: RunResult; message?: RegExp }>;

const SCENARIOS: Record<number, Scenario> = {
  [EXIT_CODES.OK]: async () => ({ result: await runCli(["list"], { env: ws.env }) }),
  [EXIT_CODES.USAGE]: async () => ({
    result: await runCli(["backup", `sqlite:${sqlite("main")}`, "--compression", "zstd", "--level", "42"], { env: ws.env }),
    message: /^compression level 42 is out of range for zstd/,
  }),
  [EXIT_CODES.CONFIG_INVALID]: async () => {
    const file = join(ws.dir, "bad.yaml");
    await writeFile(file, "repo: [unclosed\n");
    return { result: await runCli(["--config", file, "list"], { env: {} }), message: /bad\.yaml: not valid YAML/ };
  },
  [EXIT_CODES.SOURCE_MISSING]: async () => ({ result: await runCli(["backup", `sqlite:${sqlite("nope")}`], { env: ws.env }), message: /^SQLite database not found: / }),
  [EXIT_CODES.SOURCE_INVALID]: async () => {
    const file = join(ws.dir, "notes.txt");
    await writeFile(file, "these are notes, not a database; long enough to hold a header");
    return { result: await runCli(["backup", `sqlite:${file}`], { env: ws.env }), message: /notes\.txt is not a SQLite database/ };
  },
  [EXIT_CODES.REPO_NOT_INITIALISED]: async () => {
    const empty = join(ws.dir, "empty-repo");
    await mkdir(empty, { recursive: true });
    return { result: await runCli(["list", "--repo", empty], { env: ws.env }), message: /^no Holdfast repository at / };
  },
  [EXIT_CODES.REPO_NOT_EMPTY]: async () => ({ result: await runCli(["repo", "init", ws.repo], { env: ws.env }), message: /repo is not empty/ }),
  [EXIT_CODES.WRONG_KEY]: async () => {
    const wrong = join(ws.dir, "wrong-passphrase.txt");
    await writeFile(wrong, "not the passphrase\n", { mode: 0o600 });
    const result = await runCli(["restore", backups.main, "--to", join(ws.dir, "wrong-key.db")], { env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: wrong } });
    return { result, message: /^wrong passphrase for / };
  },
  [EXIT_CODES.CORRUPTED]: async () => {
    const { path, size } = await firstFile(backups.corrupt);
    await flipByte(path, size >> 1);
    return { result: await runCli(["verify", backups.corrupt], { env: ws.env }), message: /SHA-256 check|authentication failed/ };
  },
  [EXIT_CODES.TRUNCATED]: async () => {
    const { path, size } = await firstFile(backups.truncate);
    await truncate(path, size - 100);
    return { result: await runCli(["verify", backups.truncate], { env: ws.env }), message: /is truncated/ };
  },
  [EXIT_CODES.MANIFEST_MISSING]: async () => {
    await rm(join(ws.repo, "backups", backups.manifest, "manifest.json"));
    return { result: await runCli(["show", backups.manifest], { env: ws.env }), message: /has no manifest/ };
  },
  [EXIT_CODES.BACKUP_NOT_FOUND]: async () => ({ result: await runCli(["show", "20200101T000000Z"], { env: ws.env }), message: /^no backup 20200101T000000Z/ }),
  [EXIT_CODES.LOCKED]: async () => {
    const source = `sqlite:${sqlite("locked")}`;
    await writeLockClaim(ws.repo, createHash("sha256").update(source).digest("hex").slice(0, 16));
    return { result: await runCli(["backup", source], { env: ws.env }), message: /^another Holdfast process holds the lock for this source/ };
  },
  [EXIT_CODES.TOOL_MISSING]: async () => ({
    result: await runCli(["backup", pg.url("app")], { env: { ...ws.env, HOLDFAST_PG_BIN: join(ws.dir, "no-such-bin") } }),
    message: /^pg_dump not found in HOLDFAST_PG_BIN=/,
  }),
  [EXIT_CODES.NO_SPACE]: async () => {
    const disk = await mountSmallDisk(join(ws.dir, "small-disk"), 2);
    try {
      const repo = join(disk.path, "repo");
      expect((await runCli(["repo", "init", repo, "--encryption", "none"], { env: ws.env })).code).toBe(0);
      await disk.fill(16 * 1024);
      const result = await runCli(["backup", `sqlite:${sqlite("big")}`, "--compression", "none", "--repo", repo], { env: ws.env });
      return { result, message: /no space left/ };
    } finally {
      await disk.unmount();
    }
  },
  [EXIT_CODES.VERIFY_FAILED]: async () => {
    // The copy of the repository taken before the scenarios began, with one stored file lost.
    const copy = join(ws.dir, "check-repo");
    await rm(join(copy, (await firstFile(backups.main)).key));
    return { result: await runCli(["check", "--repo", copy], { env: ws.env }), message: /^check of .* found 1 problem/ };
  },
  [EXIT_CODES.RESTORE_FAILED]: async () => ({
    // The role may read and dump, but not create the database a restore needs.
    result: await runCli(["restore", backups.pg, "--to", tcpUrl("restored")], { env: { ...ws.env, PGPASSWORD: PASSWORD } }),
    message: /^app may not create database "restored"/,
  }),
  [EXIT_CODES.TARGET_EXISTS]: async () => {
    const target = join(ws.dir, "already-there.db");
    await writeFile(target, "occupied");
    return { result: await runCli(["restore", backups.main, "--to", target], { env: ws.env }), message: /already-there\.db already exists$/ };
  },
  [EXIT_CODES.CONNECTION_FAILED]: async () => ({ result: await runCli(["backup", "postgres://app@127.0.0.1:1/app"], { env: ws.env }), message: /^cannot reach the PostgreSQL server of .*ECONNREFUSED/ }),
  [EXIT_CODES.AUTH_FAILED]: async () => ({ result: await runCli(["backup", tcpUrl("app", "Wr0ng-pw-0815")], { env: ws.env }), message: /^authentication failed for postgres:\/\/app@127\.0\.0\.1:\d+\/app$/ }),
  [EXIT_CODES.DATABASE_MISSING]: async () => ({ result: await runCli(["backup", pg.url("nope")], { env: ws.env }), message: /^database "nope" does not exist/ }),
  [EXIT_CODES.ENGINE_MISMATCH]: async () => ({
    result: await runCli(["restore", backups.main, "--to", pg.url("from_sqlite")], { env: ws.env }),
    message: /is a sqlite backup and cannot be restored to a postgres target/,
  }),
  [EXIT_CODES.TOOL_VERSION]: async () => {
    const future = join(ws.dir, "future-repo");
    await mkdir(future);
    await writeFile(join(future, "holdfast.json"), JSON.stringify(sealed({ formatVersion: 99 })));
    return { result: await runCli(["list", "--repo", future], { env: ws.env }), message: /^repository format 99 is newer than this Holdfast understands/ };
  },
  [EXIT_CODES.STORAGE_FAILED]: async () => {
    const disk = await mountSmallDisk(join(ws.dir, "read-only"), 4);
    try {
      const repo = join(disk.path, "repo");
      expect((await runCli(["repo", "init", repo, "--encryption", "none"], { env: ws.env })).code).toBe(0);
      execFileSync("mount", ["-o", "remount,ro", disk.path]);
      const result = await runCli(["backup", `sqlite:${sqlite("read-only")}`, "--repo", repo], { env: ws.env });
      return { result, message: /^read-only file system: / };
    } finally {
      await disk.unmount();
    }
  },
  [EXIT_CODES.NOT_FOUND]: async () => ({
    result: await runCli(["wal-fetch", "000000010000000000000042", join(ws.dir, "wal-dest")], { env: ws.env }),
    message: /^WAL file 000000010000000000000042 is not in the archive/,
  }),
  [EXIT_CODES.ARCHIVING_NOT_SET_UP]: async () => ({ result: await runCli(["setup-archiving", pg.url("app")], { env: ws.env }), message: /^archiving is not set up correctly on / }),
  [EXIT_CODES.BACKUP_FAILED]: async () => ({
    result: await runCli(["backup", tcpUrl("app")], { env: { ...ws.env, PGPASSWORD: PASSWORD } }),
    message: /^pg_dump failed for .*permission denied for sequence secret_ids/,
  }),
  [EXIT_CODES.DRILL_FAILED]: async () => ({
    result: await runCli(["drill", `sqlite:${sqlite("main")}`, "--rpo", "1ms"], { env: ws.env }),
    message: /^drill \S+ of sqlite:.*main\.db FAILED: objectives RPO: /,
  }),
  [EXIT_CODES.DRILL_INCONCLUSIVE]: async () => {
    // A database without tables: a drill has nothing to compare the restore with.
    const empty = sqlite("no-tables");
    await writeFile(empty, "");
    execFileSync("sqlite3", [empty, "PRAGMA user_version = 1;"]);
    await backup(`sqlite:${empty}`);
    return { result: await runCli(["drill", `sqlite:${empty}`], { env: ws.env }), message: /^drill \S+ of sqlite:.*no-tables\.db is INCONCLUSIVE: tables tables recorded: .* records no tables/ };
  },
  [EXIT_CODES.UPGRADE_ROLLED_BACK]: async () => ({
    result: await runCli(["upgrade", sqlite("upgrade-rolled-back"), "--run", "exit 3"], { env: ws.env }),
    message: /^upgrade of sqlite:.*upgrade-rolled-back\.db rolled back: migrate failed: external: exit 3: exited with status 3$/,
  }),
  [EXIT_CODES.UPGRADE_FAILED]: async () => ({
    result: await runCli(["upgrade", sqlite("upgrade-failed"), "--run", "exit 3", "--rollback", "none"], { env: ws.env }),
    message: /^upgrade of sqlite:.*upgrade-failed\.db failed and the database was not put back: migrate failed/,
  }),
  [EXIT_CODES.UPGRADE_REFUSED]: async () => ({
    result: await runCli(["upgrade", sqlite("upgrade-refused"), "--run", "true", "--version-query", "SELECT 2", "--required-stop", "3"], { env: ws.env }),
    message: /^the database is at version 2 and 3 is a required stop/,
  }),
  [EXIT_CODES.MIGRATION_FAILED]: async () => {
    const dir = join(ws.dir, "failing-migrations");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "0001_broken.sql"), "CREATE TABLE t (id INTEGER);\nINSERT INTO missing_table VALUES (1);\n");
    return { result: await runCli(["migrate", "up", sqlite("migrating"), "--dir", dir]), message: /^migration 1_broken failed: no such table: missing_table/ };
  },
  [EXIT_CODES.IMPORT_CONFLICT]: async () => {
    const to = importTarget("import-conflict", "CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL, n INTEGER NOT NULL); INSERT INTO items VALUES (3, 'other', 3);");
    return { result: await runCli(["import", await exportOfItems(), "--to", to, "--strategy", "fail"], { env: ws.env }), message: /^items: 1 row\(s\) exist in the target with other values, the first at id=3; nothing was written$/ };
  },
  [EXIT_CODES.IMPORT_PLAN_STALE]: async () => {
    const to = importTarget("import-stale", "CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL, n INTEGER NOT NULL);");
    const plan = join(ws.dir, "import-stale.plan.json");
    const made = await runCli(["import", await exportOfItems(), "--to", to, "--strategy", "skip", "--plan-out", plan], { env: ws.env });
    expect(made.code, made.stderr).toBe(0);
    execFileSync("sqlite3", [to, "INSERT INTO items VALUES (999, 'meanwhile', 0)"]);
    return { result: await runCli(["import", await exportOfItems(), "--to", to, "--strategy", "skip", "--plan", plan], { env: ws.env }), message: /^the plan no longer applies: sqlite:.*import-stale\.db changed since the plan was made/ };
  },
  [EXIT_CODES.IMPORT_SCHEMA_MISMATCH]: async () => {
    const to = importTarget("import-schema", "CREATE TABLE other (x);");
    return { result: await runCli(["import", await exportOfItems(), "--to", to, "--strategy", "merge"], { env: ws.env }), message: /^table items does not exist in sqlite:.*import-schema\.db$/ };
  },
  [EXIT_CODES.IMPORT_REJECTED]: async () => {
    const to = importTarget("import-rejected", "CREATE TABLE items (id INTEGER PRIMARY KEY, body INTEGER, n INTEGER);");
    return { result: await runCli(["import", await exportOfItems(), "--to", to, "--strategy", "merge", "--strict"], { env: ws.env }), message: /^items\.body at \{"id":1\}: \S+ is not an integer \(INTEGER\); nothing was written$/ };
  },
  [EXIT_CODES.INTERRUPTED]: async () => {
    // A backup stuck behind a lock another session holds on its table, interrupted by Ctrl-C.
    const blocker = new postgres.Client({ connectionString: pg.url("busy") });
    await blocker.connect();
    try {
      await blocker.query("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE");
      const child = startCli(["backup", pg.url("busy")], { env: ws.env });
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const code = new Promise<number>((r) => child.on("close", (c, signal) => r(c ?? (signal ? 128 : 1))));
      await waitFor("the backup to wait for the table lock", async () => (await pg.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = 'busy'")).length > 0 || child.exitCode !== null, 30_000, 50);
      child.kill("SIGINT");
      return { result: { code: await code, stdout, stderr }, message: /interrupted/ };
    } finally {
      await blocker.end();
    }
  },
};

function documentedCodes(readme: string): Map<number, string> {
  const section = readme.slice(readme.indexOf("## Exit codes"));
  const table = section.slice(0, section.indexOf("\n## "));
  const rows = new Map<number, string>();
  for (const m of table.matchAll(/^\| (\d+) \| (.+) \|$/gm)) rows.set(Number(m[1]), m[2]!);
  return rows;
}

beforeAll(async () => {
  [ws, pg] = await Promise.all([workspace(), startCluster()]);
  for (const name of ["main", "corrupt", "truncate", "manifest", "locked", "read-only", "interrupted", "upgrade-rolled-back", "upgrade-failed", "upgrade-refused", "import-source"]) createDatabase(sqlite(name), 50);
  createDatabase(sqlite("big"), 20_000);
  await pg.query("CREATE DATABASE app");
  await pg.query("CREATE DATABASE busy");
  await pg.query("CREATE TABLE items (id int)", "busy");
  await pg.query(`CREATE ROLE app LOGIN PASSWORD '${PASSWORD}'`);
  await pg.query("CREATE TABLE items (id int); INSERT INTO items SELECT generate_series(1, 10); CREATE SEQUENCE secret_ids; GRANT SELECT ON items TO app", "app");
  const ids = await Promise.all([
    ...["main", "corrupt", "truncate", "manifest"].map((name) => backup(`sqlite:${sqlite(name)}`)),
    runCli(["backup", pg.url("app"), "--table", "items", "--json"], { env: ws.env }).then((r) => {
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).id as string;
    }),
  ]);
  const [main, corrupt, truncated, manifest, pgBackup] = ids as [string, string, string, string, string];
  backups = { main, corrupt, truncate: truncated, manifest, pg: pgBackup };
  await cp(ws.repo, join(ws.dir, "check-repo"), { recursive: true });
}, 60_000);

afterAll(async () => {
  await pg?.destroy();
  await ws?.cleanup();
});

describe("exit codes", () => {
  it("the README table documents exactly the codes the CLI uses", async () => {
    const documented = [...documentedCodes(await readFile(README, "utf8")).keys()].sort((a, b) => a - b);
    const used = [...new Set(Object.values(EXIT_CODES))].sort((a, b) => a - b);
    expect(documented).toEqual(used);
  });

  it("every code has a scenario or a reason it cannot be produced, never both", () => {
    for (const code of new Set(Object.values(EXIT_CODES))) {
      const has = [SCENARIOS[code] !== undefined, CANNOT_PRODUCE[code] !== undefined];
      expect(has, `exit code ${code}: add a scenario to SCENARIOS (or a reason to CANNOT_PRODUCE)`).toContain(true);
      expect(has, `exit code ${code}`).not.toEqual([true, true]);
    }
  });

  for (const code of Object.keys(SCENARIOS).map(Number)) {
    it.concurrent(`exit ${code}: a real command ends with it and one clean line`, async () => {
      const { result, message } = await SCENARIOS[code]!();
      expect({ code: result.code, stderr: result.stderr.slice(-1500) }).toMatchObject({ code });
      const errors = result.stderr.split("\n").filter((l) => l.startsWith("holdfast: error: "));
      expect(result.stderr).not.toMatch(/\n\s+at .*:\d+:\d+/);
      if (!message) {
        expect(errors).toEqual([]);
        return;
      }
      expect(errors).toHaveLength(1);
      expect(errorLine(result)).toMatch(message);
    });
  }
});
