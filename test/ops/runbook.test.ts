import { spawn } from "node:child_process";
import { mkdir, readdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, runCli, workspace, type Workspace } from "../support/cli.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { SERVER_USER, shareWithServer, startArchivingCluster, switchAndWaitArchived } from "../support/pitr.js";
import { startS3, type S3Server } from "../support/s3.js";
import { countRows, createDatabase } from "../support/sqlite.js";
import type { Runbook, RunbookScenario } from "../../src/runbook/runbook.js";

/**
 * `holdfast runbook <database>` for a SQLite database and a PostgreSQL database with WAL archiving,
 * both copied offsite to S3: every printed scenario is executed as written with bash against the
 * real parts, and its result checked. The steps only an operator can do are played by the test
 * with real commands (stopping and starting the server).
 */
let ws: Workspace;
let s3: S3Server;
let cluster: PgCluster;
let appDb: string;
let sideDir: string;
let config: string;
let targetTime: string;
const OFFSITE = "s3://offsite/copies";
const PASSWORD = "runbook-secret-pw";

const cli = (args: string[]) => runCli(args, { env: { ...ws.env, ...s3.env, HOLDFAST_CONFIG: config } });
const events = async (db = "shop") => (await cluster.query<{ batch: number; n: string }>("SELECT batch, count(*) AS n FROM events GROUP BY batch ORDER BY batch", db)).map((r) => [r.batch, Number(r.n)]);

async function runbook(database: string): Promise<Runbook> {
  const r = await cli(["runbook", database, "--json"]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Runbook;
}

/** Run a scenario's commands in one bash (set -euo pipefail) with the runbook's environment; `acts` play the by-hand steps. */
async function execute(book: Runbook, id: RunbookScenario["id"], operator: Record<string, string>, acts: Partial<Record<string, string>> = {}): Promise<void> {
  const scenario = book.scenarios.find((s) => s.id === id);
  expect(scenario, `scenario ${id}`).toBeDefined();
  const script = ["set -euo pipefail", ...scenario!.steps.map((s) => s.run ?? (s.manual ? acts[s.manual] ?? ":" : ":"))].join("\n");
  const env: Record<string, string> = { PATH: `${join(ws.dir, "bin")}:${process.env.PATH}`, HOME: process.env.HOME ?? "/root", HOLDFAST_LOG_FORMAT: "json", ...operator };
  for (const v of book.environment) if (v.value !== undefined) env[v.name] = v.value;
  const result = await new Promise<{ code: number; out: string }>((resolve) => {
    const child = spawn("bash", ["-c", script], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("close", (code) => resolve({ code: code ?? 1, out }));
  });
  expect(result.code, `${id} failed:\n${script}\n---\n${result.out}`).toBe(0);
}

beforeAll(async () => {
  s3 = await startS3(["offsite"]);
  ws = await workspace();
  sideDir = join(ws.dir, "side");
  await mkdir(sideDir, { mode: 0o700 });
  await mkdir(join(ws.dir, "bin"));
  await writeFile(join(ws.dir, "bin", "holdfast"), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws, { lean: true });
  await cluster.query("CREATE DATABASE shop");
  await cluster.query("CREATE TABLE events (id serial PRIMARY KEY, batch int NOT NULL); INSERT INTO events (batch) SELECT 1 FROM generate_series(1, 20)", "shop");
  appDb = join(ws.dir, "app.db");
  createDatabase(appDb, 500);
  config = join(ws.dir, "holdfast.yaml");
  const shopUrl = cluster.url("shop").replace(`${cluster.superuser}@`, `${cluster.superuser}:${PASSWORD}@`);
  await writeFile(config, [`repo: ${ws.repo}`, `copy_to: ${OFFSITE}`, `s3: { endpoint: "${s3.endpoint}" }`, "databases:", `  app: { source: "sqlite:${appDb}" }`, `  shop: { source: "${shopUrl}" }`, ""].join("\n"));
  for (const args of [["backup", "sqlite:" + appDb], ["backup", cluster.url("shop")], ["backup", "--type", "physical", cluster.url("shop")]]) {
    const b = await cli(args);
    expect(b.code, b.stderr).toBe(0);
  }
  // After the base backup: batch 2, the moment to go back to, then the bad change.
  await cluster.query("INSERT INTO events (batch) SELECT 2 FROM generate_series(1, 10)", "shop");
  await sleep(300);
  targetTime = (await cluster.query<{ now: Date }>("SELECT clock_timestamp() AS now"))[0]!.now.toISOString();
  await sleep(300);
  await cluster.query("DELETE FROM events WHERE batch = 1; INSERT INTO events (batch) SELECT 3 FROM generate_series(1, 5)", "shop");
  await switchAndWaitArchived((sql) => cluster.query(sql));
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
  await s3?.stop();
  await ws?.cleanup();
});

describe("holdfast runbook", () => {
  it("prints, per database, the scenarios that apply, from the configuration, without the password", async () => {
    const text = await cli(["runbook", "shop"]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).not.toContain(PASSWORD);
    expect(text.stdout).toMatch(/^## 1\. Full restore of the newest backup$/m);
    expect(text.stdout).toContain(`holdfast restore --type physical --source shop --target-time "$TARGET_TIME" --to "$PGDATA" --replace --archive`);
    expect(text.stdout).toContain(`export HOLDFAST_REPO=${OFFSITE}`);
    expect(text.stdout).toMatch(/^## 4\. Application import of selected data$/m);
    expect(text.stdout).toContain("--strategy skip --dry-run");
    const shop = await runbook("shop");
    expect(JSON.stringify(shop)).not.toContain(PASSWORD);
    expect(shop).toMatchObject({ engine: "postgres", backups: { logical: 1, physical: 1 }, offsite: [OFFSITE] });
    expect(shop.scenarios.map((s) => s.id)).toEqual(["full-restore", "point-in-time", "offsite", "application-import"]);
    // Every command of the JSON is printed as is in the text.
    for (const step of shop.scenarios.flatMap((s) => s.steps)) if (step.run) expect(text.stdout).toContain(step.run);
    const app = await runbook("app");
    expect(app.scenarios.map((s) => s.id)).toEqual(["full-restore", "offsite", "application-import"]);
    expect(app.skipped.map((s) => s.id)).toEqual(["point-in-time"]);
    expect(app.environment.filter((v) => v.value === undefined).map((v) => v.name)).toEqual(["AWS_ACCESS_KEY_ID", "RESTORE_DIR"]);
    const unknown = await cli(["runbook", "nope"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no database "nope" in .*holdfast\.yaml/);
  });

  it("SQLite full restore: side copy checked, then in place with a safety copy", async () => {
    const before = countRows(appDb, "items");
    createDatabase(appDb, 50);
    await execute(await runbook("app"), "full-restore", { RESTORE_DIR: sideDir, ...s3.env });
    expect(countRows(appDb, "items")).toBe(before);
    expect(await readdir(sideDir)).toEqual([]);
    const [safety] = await readdir(join(ws.dir, ".holdfast-safety"));
    expect(countRows(join(ws.dir, ".holdfast-safety", safety!, "app.db"), "items")).toBe(before + 50);
  });

  it("PostgreSQL point in time: the rows before the bad change are back, those after it are not", async () => {
    const pgCtl = `runuser -u ${SERVER_USER} -- ${cluster.binDir}/pg_ctl`;
    const side = `"$RESTORE_DIR/shop-pitr"`;
    const batches = `psql "host=$RESTORE_DIR port=${cluster.port + 1} user=${cluster.superuser} dbname=shop" -Atc "SELECT string_agg(batch || ':' || n, ',' ORDER BY batch) FROM (SELECT batch, count(*) AS n FROM events GROUP BY batch) t"`;
    const acts = {
      // The operator's look at the side copy: batch 1 (deleted by the bad change) and 2 are there, 3 (after it) is not.
      inspect: [
        `${pgCtl} -D ${side} -l "$RESTORE_DIR/side.log" -o "-c port=${cluster.port + 1} -c listen_addresses='' -c unix_socket_directories='$RESTORE_DIR'" -w -t 60 start`,
        `test "$(${batches})" = "1:20,2:10"`,
        `${pgCtl} -D ${side} -m fast -w -t 60 stop`,
      ].join("\n"),
      "stop-server": `${pgCtl} -D "$PGDATA" -m fast -w -t 60 stop`,
      "start-server": `${pgCtl} -D "$PGDATA" -l "$PGDATA/../server.log" -w -t 60 start`,
    };
    await execute(await runbook("shop"), "point-in-time", { RESTORE_DIR: sideDir, TARGET_TIME: targetTime, PGDATA: cluster.dataDir, ...s3.env }, acts);
    expect(await events()).toEqual([[1, 20], [2, 10]]);
    const aside = (await readdir(join(cluster.dataDir, ".."))).filter((n) => n.startsWith("data.holdfast-safety-"));
    expect(aside).toHaveLength(1);
  });

  it("PostgreSQL full restore, then from the offsite copy with the primary repository gone", async () => {
    await cluster.query("DELETE FROM events WHERE batch = 1", "shop");
    await execute(await runbook("shop"), "full-restore", { ...s3.env });
    expect(await events()).toEqual([[1, 20]]);
    expect(await cluster.query("SELECT 1 FROM pg_database WHERE datname = 'shop_runbook_check'")).toEqual([]);

    await cluster.query("DROP TABLE events", "shop");
    await rename(ws.repo, `${ws.repo}.lost`);
    const book = await runbook("shop");
    expect(book.backups.readFrom).toBe(OFFSITE);
    await execute(book, "offsite", { ...s3.env });
    expect(await events()).toEqual([[1, 20]]);
  });

  it("SQLite from the offsite copy with the primary repository gone", async () => {
    const before = countRows(appDb, "items");
    createDatabase(appDb, 30);
    await execute(await runbook("app"), "offsite", { RESTORE_DIR: sideDir, ...s3.env });
    expect(countRows(appDb, "items")).toBe(before);
  });
});
