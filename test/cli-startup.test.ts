import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, runCli, workspace, type Workspace } from "./support/cli.js";
import { moduleLog, packagesOf, type ModuleLog } from "./support/module-log.js";
import { startCluster, type PgCluster } from "./support/pg-cluster.js";
import { createDatabase } from "./support/sqlite.js";

/**
 * Start-up cost is module loading: `--help`, `--version` and a command's own help load commander
 * and the command registrations only; the configuration schema (zod, yaml) and pino load when a
 * command runs, and the daemon's fastify and prom-client, and the S3 SDK, never for a local
 * command. Catalog commands (`list`, `show`, `status`) read manifests only: no database driver and
 * no engine's snapshot or restore code, whatever engines the repository's backups are of. A module
 * hook records what Node loads (no timing).
 */
const NEVER_AT_START = ["zod", "yaml", "pino", "fastify", "prom-client", "@aws-sdk/client-s3", "@aws-sdk/lib-storage", "better-sqlite3", "pg", "age-encryption"];
const DAEMON_AND_S3 = ["fastify", "prom-client", "@aws-sdk/client-s3", "@aws-sdk/lib-storage"];
const DRIVERS = ["better-sqlite3", "pg"];
/** The engines themselves (snapshot, restore, connecting): what `kind.load()` imports. */
const ENGINE_CODE = /\/dist\/engines\/(sqlite\/(engine|snapshot-worker|restore|inspect)|postgres\/(logical|snapshot|restore|connection|facts)|postgres\/physical\/(engine|snapshot|restore|basebackup)|files\/(engine|pack|restore))\.js$/;

let ws: Workspace;
let mods: ModuleLog;

beforeAll(async () => {
  ws = await workspace();
  mods = await moduleLog(ws.dir);
});
afterAll(() => ws?.cleanup());

async function packagesLoadedBy(args: string[], env: Record<string, string> = ws.env): Promise<{ packages: string[]; engineCode: string[]; stdout: string }> {
  await mods.reset();
  const r = await mods.node([CLI, ...args], env);
  expect(r.code, r.stderr).toBe(0);
  const loaded = await mods.loaded();
  return { packages: packagesOf(loaded), engineCode: loaded.filter((url) => ENGINE_CODE.test(url)).map((url) => url.replace(/.*\/dist\//, "")), stdout: r.stdout };
}

describe("CLI start-up loads only what the command needs", () => {
  it("a command that reads its settings loads zod and pino (the hook sees them: control)", async () => {
    const { packages, stdout } = await packagesLoadedBy(["list"]);
    expect(stdout).toContain("no backups");
    expect(packages).toEqual(expect.arrayContaining(["commander", "zod", "pino"]));
    for (const p of DAEMON_AND_S3) expect(packages, `list on a local repository loaded ${p}`).not.toContain(p);
  });

  it.each(["--version", "--help", "backup --help", "wal-push --help", "restore --help", "migrate up --help", "daemon --help", "export --help", "import --help"])("holdfast %s loads commander and nothing heavy", async (line) => {
    const args = line.split(" ");
    const { packages, stdout } = await packagesLoadedBy(args);
    expect(stdout.length).toBeGreaterThan(0);
    expect(packages).toContain("commander");
    for (const p of NEVER_AT_START) expect(packages, `holdfast ${args.join(" ")} loaded ${p}`).not.toContain(p);
  });
});

describe("catalog commands load no engine", () => {
  let cat: Workspace;
  let cluster: PgCluster;
  let config: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    cat = await workspace();
    cluster = await startCluster();
    await cluster.query("CREATE TABLE t AS SELECT generate_series(1, 100) AS id");
    const db = join(cat.dir, "app.db");
    createDatabase(db, 50);
    // The SQLite backup runs under the hook: the control that engine code and drivers are seen when loaded.
    const backup = await packagesLoadedBy(["backup", `sqlite:${db}`, "--json"], cat.env);
    expect(backup.packages).toContain("better-sqlite3");
    expect(backup.engineCode).toContain("engines/sqlite/engine.js");
    ids.sqlite = JSON.parse(backup.stdout).id;
    const pg = await runCli(["backup", cluster.url(), "--json"], { env: cat.env });
    expect(pg.code, pg.stderr).toBe(0);
    ids.postgres = JSON.parse(pg.stdout).id;
    config = join(cat.dir, "holdfast.yaml");
    await writeFile(config, [`repo: ${cat.repo}`, `passphrase_file: ${cat.passphraseFile}`, "databases:", "  app:", `    source: "sqlite:${db}"`, "  main:", `    source: "${cluster.url()}"`].join("\n"));
  }, 60_000);
  afterAll(async () => {
    await cluster?.destroy();
    await cat?.cleanup();
  });

  it.each([
    ["list", () => ["list"], (out: string) => expect(out).toContain(ids.postgres)],
    ["show latest --source", () => ["show", "latest", "--source", cluster.url()], (out: string) => expect(out).toContain(ids.postgres)],
    ["show (SQLite)", () => ["show", ids.sqlite!], (out: string) => expect(out).toContain("sqlite:")],
    ["show (PostgreSQL)", () => ["show", ids.postgres!], (out: string) => expect(out).toContain("postgres://")],
    ["status", () => ["status"], (out: string) => expect(out).toContain("postgres://")],
    ["status --config", () => ["status", "--config", config], (out: string) => expect(out).toMatch(/app[\s\S]*main/)],
  ])("holdfast %s loads neither better-sqlite3 nor pg nor an engine", async (_name, args, check) => {
    const { packages, engineCode, stdout } = await packagesLoadedBy(args(), cat.env);
    check(stdout);
    for (const p of DRIVERS) expect(packages, `${args().join(" ")} loaded ${p}`).not.toContain(p);
    expect(engineCode, `${args().join(" ")} loaded engine code`).toEqual([]);
  });
});
