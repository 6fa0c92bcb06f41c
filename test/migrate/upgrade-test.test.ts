import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { errorLine, runCli, workspace, type RunResult, type Workspace } from "../support/cli.js";
import { createDatabase, dumpTable } from "../support/sqlite.js";
import { databases, seedApp } from "../support/pg-data.js";
import { expectStep, pgState } from "./upgrade-support.js";

/**
 * `holdfast upgrade-test`: the chain rehearsed on a scratch copy (a SQLite file copied, a
 * PostgreSQL backup restored into a scratch database), checks run, scratch dropped, production
 * untouched; a failing runner or check exits 16.
 */
let pg: PgCluster;
let ws: Workspace;
beforeAll(async () => {
  [pg, ws] = await Promise.all([startCluster(), workspace()]);
}, 120_000);
afterAll(async () => {
  await pg?.destroy();
  await ws?.cleanup();
});

interface TestReport {
  ok: boolean;
  scratch: string;
  steps: { name: string; ok: boolean; durationMs: number; detail?: string }[];
  checks: { kind: string; name: string; ok: boolean; detail: string }[];
  failure?: { step: string; message: string };
}

async function rehearse(args: string[]): Promise<{ result: RunResult; report: TestReport }> {
  const result = await runCli(["upgrade-test", ...args, "--json"], { env: ws.env });
  return { result, report: JSON.parse(result.stdout) as TestReport };
}

const leftovers = async () => (await readdir(ws.dir)).filter((n) => n.startsWith("holdfast-upgrade-test-"));

describe("holdfast upgrade-test", () => {
  it("SQLite file: a passing chain exits 0, a failing one 16; the file itself never changes", async () => {
    const path = join(ws.dir, "prod.db");
    createDatabase(path, 100);
    const original = dumpTable(path, "tags");
    const checks = join(ws.dir, "sqlite-checks.sql");
    await writeFile(checks, "-- items have a color\nSELECT count(*) = 0 FROM items WHERE color IS NULL;\n");
    const passing = await rehearse(["--from", path, "--run", `sqlite3 "$HOLDFAST_DATABASE" "ALTER TABLE items ADD COLUMN color TEXT DEFAULT 'red'"`, "--checks", checks]);
    expect(passing.result.code, passing.result.stderr).toBe(0);
    expect(passing.report.ok).toBe(true);
    expect(passing.report.checks.map((c) => c.ok)).toEqual([true, true, true]);

    const failing = await rehearse(["--from", path, "--run", `sqlite3 "$HOLDFAST_DATABASE" "ALTER TABLE items ADD COLUMN color TEXT"`, "--checks", checks]);
    expect(failing.result.code, failing.result.stderr).toBe(16);
    expect(errorLine(failing.result)).toMatch(/^upgrade-test from .*prod\.db failed at checks: assertion "items have a color": returned 0$/);
    expect(dumpTable(path, "tags")).toEqual(original);
    expect((await runCli(["upgrade-test", "--from", path, "--run", "exit 5"], { env: ws.env })).code).toBe(16);
    expect(await leftovers()).toEqual([]);
  }, 30_000);

  it("PostgreSQL backup: restored into a scratch database that is dropped afterwards, pass or fail", async () => {
    await seedApp(pg, "prod", 100);
    const before = await pgState(pg, "prod");
    const backup = await runCli(["backup", pg.url("prod"), "--json"], { env: ws.env });
    expect(backup.code, backup.stderr).toBe(0);
    const id = (JSON.parse(backup.stdout) as { id: string }).id;
    const migration = join(ws.dir, "0002.sql");
    await writeFile(migration, "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';\nUPDATE alembic_version SET version_num = 'b2';\n");
    const run = `psql -X -q -v ON_ERROR_STOP=1 -f ${migration}`;
    const checks = join(ws.dir, "pg-checks.sql");
    await writeFile(checks, "-- every order has a status\nSELECT bool_and(status = 'new') FROM orders;\n");
    const dbsBefore = await databases(pg);

    const passing = await rehearse(["--from", id, "--run", run, "--checks", checks]);
    expect(passing.result.code, passing.result.stderr).toBe(0);
    expect(passing.report.scratch).toMatch(/\/holdfast_verify_[0-9a-f]+\?/);
    expectStep(passing.report, "restore into scratch", true);
    expect(passing.report.checks.map((c) => [c.kind, c.ok])).toEqual([["assertion", true], ["unchanged-rows", true], ["foreign-keys", true]]);

    const broken = join(ws.dir, "0003.sql");
    await writeFile(broken, "ALTER TABLE orders ADD COLUMN status text;\nDELETE FROM audit_log;\n");
    const failing = await rehearse(["--from", id, "--run", `psql -X -q -v ON_ERROR_STOP=1 -f ${broken}`, "--checks", checks]);
    expect(failing.result.code, failing.result.stderr).toBe(16);
    expect(failing.report.checks.filter((c) => !c.ok).map((c) => c.kind)).toEqual(["assertion", "unchanged-rows"]);
    expect(failing.report.checks.find((c) => c.kind === "unchanged-rows")?.detail).toBe("public.audit_log has 0 rows, 50 before");

    expect(await databases(pg)).toEqual(dbsBefore);
    expect(await pgState(pg, "prod")).toEqual(before);
    expect(await leftovers()).toEqual([]);
  }, 60_000);
});
