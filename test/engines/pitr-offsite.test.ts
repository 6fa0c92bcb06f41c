import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, readdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { quietContext } from "../../dist/commands/context.js";
import { loadDaemonConfig } from "../../dist/daemon/config.js";
import { runJob } from "../../dist/daemon/jobs.js";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { shareWithServer, startArchivingCluster, startRestored, switchAndWaitArchived } from "../support/pitr.js";

/**
 * A base backup and its archived WAL go offsite (copy_to after the backup, then `copy --wal`), so
 * after losing the primary repository a point-in-time restore still works from the copy alone.
 */
let ws: Workspace;
let cluster: PgCluster | undefined;
let offsite: string;
let env: Record<string, string>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const walRecords = async (repo: string) => (await readdir(join(repo, "wal", "00000001"))).filter((n) => n.endsWith(".json")).sort();

beforeAll(async () => {
  ws = await workspace();
  offsite = join(ws.dir, "offsite");
  await shareWithServer(ws);
  cluster = await startArchivingCluster(ws);
  const config = join(ws.dir, "holdfast.yaml");
  await writeFile(config, `repo: ${ws.repo}\ncopy_to: ${offsite}\ndatabases:\n  main: { source: "${cluster.url()}" }\n`);
  env = { ...ws.env, HOLDFAST_CONFIG: config };
});
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

describe("PostgreSQL base backups and their WAL offsite", () => {
  let targetTime: string;

  it("copy_to copies a base backup with the WAL it needs; the copy alone can be made consistent", async () => {
    await cluster!.query("CREATE TABLE events (id int PRIMARY KEY, batch int NOT NULL)");
    await cluster!.query("INSERT INTO events (id, batch) SELECT g, 1 FROM generate_series(1, 10) g");
    const b = await runCli(["backup", "--type", "physical", cluster!.url(), "--json"], { env });
    expect(b.code, b.stderr).toBe(0);
    const m = JSON.parse(b.stdout);
    expect(await readFile(join(offsite, "backups", m.id, "manifest.json"), "utf8")).toContain(m.id);
    const copied = await walRecords(offsite);
    for (const f of [m.details.walStart, m.details.walStop, m.details.backupHistoryFile]) expect(copied).toContain(`${f}.json`);
    const v = await runCli(["wal", "verify", "--repo", offsite, "--json"], { env });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).backups[0].consistent).toBe(true);
  });

  it("copy --wal brings the offsite WAL archive up to date; a second copy copies nothing", async () => {
    await cluster!.query("INSERT INTO events (id, batch) SELECT g, 2 FROM generate_series(11, 20) g");
    await sleep(300);
    const [row] = await cluster!.query<{ now: Date }>("SELECT clock_timestamp() AS now");
    targetTime = row!.now.toISOString();
    await sleep(300);
    await cluster!.query("INSERT INTO events (id, batch) SELECT g, 3 FROM generate_series(21, 30) g");
    await switchAndWaitArchived((sql) => cluster!.query(sql));
    const before = (await walRecords(offsite)).length;
    const first = await runCli(["copy", "--wal", "--to", offsite, "--json"], { env });
    expect(first.code, first.stderr).toBe(0);
    const r1 = JSON.parse(first.stdout);
    expect(r1.copied).toEqual([]);
    expect(r1.wal.copied).toBeGreaterThan(0);
    expect((await walRecords(offsite)).length).toBe(before + r1.wal.copied);
    expect(await walRecords(offsite)).toEqual(await walRecords(ws.repo));
    const again = await runCli(["copy", "--wal", "--to", offsite], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/WAL archive: copied 0 file\(s\) \(0 B\) to .*offsite, \d+ already there/);
  });

  it("the daemon's copy job keeps the offsite WAL archive up to date", async () => {
    await cluster!.query("INSERT INTO events (id, batch) SELECT g, 4 FROM generate_series(31, 40) g");
    await switchAndWaitArchived((sql) => cluster!.query(sql));
    const before = await walRecords(offsite);
    expect(before.length).toBeLessThan((await walRecords(ws.repo)).length);
    const path = join(ws.dir, "daemon.yaml");
    await writeFile(path, [`repo: ${ws.repo}`, `copy_to: ${offsite}`, `state_dir: ${join(ws.dir, "state")}`, "databases:", `  app: { source: "${cluster!.url()}", schedule: { copy: "0 3 * * *" } }`, ""].join("\n"));
    const config = await loadDaemonConfig(path, { ...process.env, ...ws.env });
    const outcome = await runJob("copy", config.databases[0]!, config.settings, quietContext());
    expect(outcome.result, JSON.stringify(outcome.error)).toBe("success");
    expect(outcome.note).toMatch(/^copied 0 backup\(s\), [1-9]\d* WAL file\(s\)$/);
    expect(await walRecords(offsite)).toEqual(await walRecords(ws.repo));
  });

  it("refuses a WAL file the offsite copy holds with different content, and leaves it as it was", async () => {
    const names = (await walRecords(offsite)).filter((n) => /^[0-9A-F]{24}\.json$/.test(n));
    const [victim, other] = [join(offsite, "wal", "00000001", names[0]!), join(offsite, "wal", "00000001", names[1]!)];
    const original = await readFile(victim);
    // Another segment's (valid, sealed) record under this name: same name, different content.
    await writeFile(victim, await readFile(other));
    const r = await runCli(["copy", "--wal", "--to", offsite], { env });
    expect(r.code).toBe(9);
    expect(errorLine(r)).toMatch(new RegExp(`WAL file ${names[0]!.slice(0, 24)} in .*offsite differs from the one in .*repo .*not overwritten`));
    expect(await readFile(victim)).toEqual(await readFile(other));
    await writeFile(victim, original);
  });

  it("after losing the primary repository, restores to a point in time from the offsite copy", async () => {
    await cluster!.destroy();
    cluster = undefined;
    await rename(ws.repo, `${ws.repo}.lost`);
    // The server's OS user reads the copy (restore_command), as it read the primary.
    await shareWithServer(ws);
    const dir = join(ws.dir, "pitr");
    const r = await runCli(["restore", "latest", "--type", "physical", "--to", dir, "--target-time", targetTime, "--json"], { env });
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.fallback.location).toBe(offsite);
    expect(result.stoppedAt).toMatch(/recovery stopping before commit/);
    // Recovery's WAL came through the restore's fetch service, from the copy (the primary is gone).
    expect(result.walFetch.fetched).toBeGreaterThan(0);
    const server = await startRestored(dir);
    try {
      expect((await server.query("SELECT id FROM events ORDER BY id")).map((x) => Number(x.id))).toEqual(range(1, 20));
    } finally {
      await server.stop();
    }
 
    // The runbook of a database with base backups only now has the offsite scenario, read from the copy.
    const book = await runCli(["runbook", "main", "--json"], { env });
    expect(book.code, book.stderr).toBe(0);
    const { backups, scenarios, skipped } = JSON.parse(book.stdout) as { backups: { readFrom: string; physical: number }; scenarios: { id: string; steps: { run?: string }[] }[]; skipped: { id: string }[] };
    expect(backups).toMatchObject({ readFrom: offsite, physical: 1 });
    expect(scenarios.map((x) => x.id)).toEqual(["point-in-time", "offsite", "application-import"]);
    expect(skipped.map((x) => x.id)).not.toContain("offsite");
    const runs = scenarios[1]!.steps.map((x) => x.run ?? "");
    expect(runs[0]).toBe(`export HOLDFAST_REPO=${offsite}`);
    expect(runs).toContain(`holdfast restore --type physical --source main --to "$RESTORE_DIR/main-offsite"`);
  });
});
