import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";

let ws: Workspace;
let cluster: PgCluster;
beforeAll(async () => {
  [ws, cluster] = await Promise.all([workspace({ encryption: "none" }), startCluster()]);
});
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

/** A SQLite file with a foreign-key cycle (people ⇄ teams) and posts → people; `orphan` adds a post of no one. */
async function exportSqlite(name: string, orphan: boolean): Promise<string> {
  const path = join(ws.dir, `${name}.db`);
  const db = new Database(path);
  db.pragma("foreign_keys = OFF"); // the cycle's rows go in one after the other; the orphan must get in
  db.exec(`CREATE TABLE people (id INTEGER PRIMARY KEY, team_id INTEGER REFERENCES teams(id), name TEXT);
           CREATE TABLE teams (id INTEGER PRIMARY KEY, lead_id INTEGER REFERENCES people(id));
           CREATE TABLE posts (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES people(id), body TEXT);
           INSERT INTO people VALUES (1, 10, 'ann'), (2, 10, 'bob'), (3, NULL, 'cy');
           INSERT INTO teams VALUES (10, 1);
           WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < 500)
           INSERT INTO posts SELECT v, 1 + v % 3, 'post ' || v FROM n;`);
  if (orphan) db.exec("INSERT INTO posts VALUES (9999, 42, 'nobody wrote this')");
  db.close();
  const file = join(ws.dir, `${name}.export`);
  const r = await runCli(["export", `sqlite:${path}`, "--out", file, "--encryption", "none"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  return file;
}

describe("--create-schema into PostgreSQL: foreign keys between created tables", () => {
  it("are checked in one pass before COMMIT and are in place afterwards (a cycle included)", async () => {
    await cluster.query("CREATE DATABASE created_ok");
    const file = await exportSqlite("ok", false);
    const r = await runCli(["import", file, "--to", cluster.url("created_ok"), "--strategy", "fail", "--create-schema"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const keys = await cluster.query<{ t: string; def: string }>(
      "SELECT conrelid::regclass::text AS t, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE contype = 'f' ORDER BY 1",
      "created_ok",
    );
    expect(keys).toEqual([
      { t: "people", def: "FOREIGN KEY (team_id) REFERENCES teams(id) DEFERRABLE INITIALLY DEFERRED" },
      { t: "posts", def: "FOREIGN KEY (person_id) REFERENCES people(id) DEFERRABLE INITIALLY DEFERRED" },
      { t: "teams", def: "FOREIGN KEY (lead_id) REFERENCES people(id) DEFERRABLE INITIALLY DEFERRED" },
    ]);
    expect(await cluster.query("SELECT count(*)::int AS n FROM posts", "created_ok")).toEqual([{ n: 500 }]);
    await expect(cluster.query("INSERT INTO posts VALUES (10000, 77, 'x')", "created_ok")).rejects.toThrow(/foreign key/);
  });

  it("refuse an orphan at COMMIT: IMPORT_REJECTED, and no table was created", async () => {
    await cluster.query("CREATE DATABASE created_orphan");
    const file = await exportSqlite("orphan", true);
    const r = await runCli(["import", file, "--to", cluster.url("created_orphan"), "--strategy", "fail", "--create-schema"], { env: ws.env });
    expect(r.code, r.stderr).toBe(37);
    expect(r.stderr).toMatch(/violates foreign key constraint "posts_person_id_fkey"/);
    expect(await cluster.query("SELECT count(*)::int AS n FROM pg_class WHERE relname IN ('people', 'teams', 'posts')", "created_orphan")).toEqual([{ n: 0 }]);
  });
});
