import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { errorLine, runCli, workspace, type RunResult, type Workspace } from "../support/cli.js";
import { createDatabase, dumpTable } from "../support/sqlite.js";
import { databases, seedApp } from "../support/pg-data.js";
import { migrationsFolder } from "./files.js";
import { pgState } from "./upgrade-support.js";

/**
 * `holdfast upgrade-test --migrations`: besides the direct run, the chain is rehearsed one version
 * at a time, up → down → up, on a second scratch copy; a down migration that does not give back the
 * version before's schema, or an up that gives another schema the second time, exits 16 naming the
 * version and the difference. Real SQLite files and a real PostgreSQL backup; production untouched.
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
  steps: { name: string; ok: boolean; detail?: string }[];
  failure?: { step: string; message: string };
  roundTrip?: string[];
}

async function rehearse(args: string[]): Promise<{ result: RunResult; report: TestReport }> {
  const result = await runCli(["upgrade-test", ...args, "--json"], { env: ws.env });
  try {
    return { result, report: JSON.parse(result.stdout) as TestReport };
  } catch {
    throw new Error(`no JSON report (exit ${result.code}): ${result.stderr}`);
  }
}

const leftovers = async () => (await readdir(ws.dir)).filter((n) => n.startsWith("holdfast-upgrade-test-"));

describe("upgrade-test: step by step, up → down → up", () => {
  it("SQLite: a right chain passes every version; a down that forgets a column fails naming version 0002", async () => {
    const path = join(ws.dir, "app.db");
    createDatabase(path, 50);
    const original = dumpTable(path, "items");
    const good = await migrationsFolder(ws.dir, "sqlite-good", {
      "0001_teams.up.sql": "CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
      "0001_teams.down.sql": "DROP TABLE teams;",
      "0002_color.up.sql": "ALTER TABLE items ADD COLUMN color TEXT;\nCREATE INDEX items_color ON items (color);",
      "0002_color.down.sql": "DROP INDEX items_color;\nALTER TABLE items DROP COLUMN color;",
      "0003_team_index.up.sql": "CREATE INDEX teams_name ON teams (name);",
    });
    const passing = await rehearse(["--from", path, "--migrations", good]);
    expect(passing.result.code, passing.result.stderr).toBe(0);
    expect(passing.report.roundTrip).toEqual(["0001 up, down, up", "0002 up, down, up", "0003 up (no down migration)"]);
    expect(passing.report.steps.map((s) => [s.name, s.ok])).toContainEqual(["step by step", true]);

    const bad = await migrationsFolder(ws.dir, "sqlite-bad", {
      "0001_teams.up.sql": "CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
      "0001_teams.down.sql": "DROP TABLE teams;",
      "0002_color.up.sql": "ALTER TABLE items ADD COLUMN color TEXT;\nCREATE INDEX items_color ON items (color);",
      "0002_color.down.sql": "DROP INDEX items_color;",
    });
    const failing = await rehearse(["--from", path, "--migrations", bad]);
    expect(failing.result.code, failing.result.stderr).toBe(16);
    expect(failing.report.failure?.step).toBe("step by step");
    expect(errorLine(failing.result)).toMatch(/failed at step by step: version 0002: down does not give back the schema of 0001: missing "table items on items: CREATE TABLE items \(id INTEGER PRIMARY KEY, body TEXT NOT NULL, n INTEGER NOT NULL\)"; extra "table items .*, color TEXT\)"$/);
    expect(dumpTable(path, "items")).toEqual(original);

    const skipped = await rehearse(["--from", path, "--migrations", bad, "--no-round-trip"]);
    expect(skipped.result.code, skipped.result.stderr).toBe(0);
    expect(skipped.report.roundTrip).toBeUndefined();
    expect(await leftovers()).toEqual([]);
  }, 30_000);

  it("PostgreSQL: a down that forgets a flag row makes up → down → up give another schema; both scratch databases dropped", async () => {
    await seedApp(pg, "rt", 50);
    const before = await pgState(pg, "rt");
    const backup = await runCli(["backup", pg.url("rt"), "--json"], { env: ws.env });
    expect(backup.code, backup.stderr).toBe(0);
    const id = (JSON.parse(backup.stdout) as { id: string }).id;
    const dbsBefore = await databases(pg);
    const chain = (down2: string) => ({
      "0001_flags.up.sql": "CREATE TABLE flags (k text PRIMARY KEY);",
      "0001_flags.down.sql": "DROP TABLE flags;",
      "0002_status.up.sql": `DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM flags WHERE k = 'status') THEN ALTER TABLE orders ADD COLUMN status varchar(10);
  ELSE ALTER TABLE orders ADD COLUMN status text; END IF;
END $$;
INSERT INTO flags VALUES ('status') ON CONFLICT DO NOTHING;`,
      "0002_status.down.sql": down2,
    });
    const good = await migrationsFolder(ws.dir, "pg-good", chain("ALTER TABLE orders DROP COLUMN status;\nDELETE FROM flags WHERE k = 'status';"));
    const passing = await rehearse(["--from", id, "--migrations", good]);
    expect(passing.result.code, passing.result.stderr).toBe(0);
    expect(passing.report.roundTrip).toEqual(["0001 up, down, up", "0002 up, down, up"]);

    const bad = await migrationsFolder(ws.dir, "pg-bad", chain("ALTER TABLE orders DROP COLUMN status;"));
    const failing = await rehearse(["--from", id, "--migrations", bad]);
    expect(failing.result.code, failing.result.stderr).toBe(16);
    expect(errorLine(failing.result)).toMatch(/failed at step by step: version 0002: up → down → up gives another schema than up: missing "status text,?"; extra "status character varying\(10\),?"/);
    expect(await databases(pg)).toEqual(dbsBefore);
    expect(await pgState(pg, "rt")).toEqual(before);
    expect(await leftovers()).toEqual([]);
  }, 60_000);
});
