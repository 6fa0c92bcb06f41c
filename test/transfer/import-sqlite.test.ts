import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, runCli, workspace, type RunResult, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";

/**
 * holdfast import into real SQLite files, through the built CLI: round trip, strategies on
 * overlapping rows, dry run and failures leave the file byte-for-byte as it was, sequences,
 * foreign-key cycles, plans, rejects, and the bad inputs' exit codes.
 */
let ws: Workspace;
let cluster: PgCluster;
let source: string;
/** Every table, encrypted to the repository, users.password_hash sealed. */
let sealedExport: string;
/** Every table, plaintext (for the tamper tests). */
let plainExport: string;

const SOURCE_SQL = `
  CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, password_hash TEXT, big INTEGER, score REAL, created DATETIME, avatar BLOB, misc, active BOOLEAN);
  CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), body TEXT);
  CREATE TABLE teams (id INTEGER PRIMARY KEY, lead_id INTEGER REFERENCES people(id), name TEXT);
  CREATE TABLE people (id INTEGER PRIMARY KEY, team_id INTEGER REFERENCES teams(id), name TEXT);
  CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER);
  CREATE TABLE codes (id INTEGER PRIMARY KEY, code TEXT);
  CREATE TABLE tags (tag TEXT NOT NULL UNIQUE, label TEXT);`;

function sourceFixture(path: string): void {
  const db = new Database(path);
  db.pragma("foreign_keys = OFF"); // teams and people reference each other
  db.exec(SOURCE_SQL);
  const add = db.prepare("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  add.run(1, "ann@example.com", "HASH-ann", 9223372036854775807n, 1.5, "2026-01-01 10:00:00", Buffer.from([0, 255, 16]), 2.0, 1);
  add.run(2, "bob@example.com", "HASH-bob", -9223372036854775808n, 2.0, 1700000000, null, "text", 0);
  add.run(7, "cé ✓ <\"quote\">\n", null, null, null, 1700000000123, Buffer.alloc(0), Buffer.from("blob"), null);
  db.exec(`INSERT INTO posts VALUES (1, 1, 'hello'), (2, 7, 'hé'), (3, 2, 'third');
           INSERT INTO teams VALUES (1, 1, 'core'), (2, 2, 'ops');
           INSERT INTO people VALUES (1, 1, 'ada'), (2, 2, 'lin');
           INSERT INTO items VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3);
           INSERT INTO codes VALUES (1, '42'), (2, 'abc'), (3, '7');
           INSERT INTO tags VALUES ('a', 'first'), ('b', 'second');`);
  db.close();
}

/** A target file made by SQL. */
function target(name: string, sql: string): string {
  const path = join(ws.dir, `${name}.db`);
  const db = new Database(path);
  db.exec(sql);
  db.close();
  return path;
}

async function sha(path: string): Promise<string> {
  return createHash("sha256").update(await readFile(path)).digest("hex");
}

function rows(path: string, table: string): unknown[][] {
  const db = new Database(path, { readonly: true });
  db.defaultSafeIntegers(true);
  try {
    return db.prepare(`SELECT * FROM "${table}" ORDER BY rowid`).raw(true).all() as unknown[][];
  } finally {
    db.close();
  }
}

const imp = (args: string[], cwd = ws.dir): Promise<RunResult> => runCli(["import", ...args], { env: ws.env, cwd });

async function impJson(args: string[]) {
  const r = await imp([...args, "--json"]);
  expect(r.code, r.stderr.slice(-800)).toBe(0);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  [ws, cluster] = await Promise.all([workspace(), startCluster()]);
  source = join(ws.dir, "source.db");
  sourceFixture(source);
  sealedExport = join(ws.dir, "sealed.export");
  plainExport = join(ws.dir, "plain.export");
  for (const [file, extra] of [[sealedExport, ["--sensitive", "users.password_hash"]], [plainExport, ["--encryption", "none"]]] as const) {
    const r = await runCli(["export", `sqlite:${source}`, "--out", file, ...extra], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
  }
}, 30_000);

afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

const ITEMS = `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, note TEXT DEFAULT 'none');
  INSERT INTO items VALUES (1, 'one', 1, 'keep1'), (2, 'TWO', 20, 'keep2'), (5, 'five', 5, 'keep5');`;

describe.concurrent("import into SQLite", () => {
  it("round-trips every table into an empty file (--create-schema): equal rows, sealed columns opened, sequences usable, a foreign-key cycle loaded", async () => {
    const to = join(ws.dir, "copy.db");
    const dry = await imp([sealedExport, "--to", to, "--strategy", "fail", "--create-schema", "--key", "tags:tag", "--dry-run"]);
    expect(dry.stdout).toMatch(/users\s+id\s+3\s+3\s+0\s+0\s+0\s+0\s+0\s+\(table created\)/);
    await expect(stat(to)).rejects.toMatchObject({ code: "ENOENT" }); // a dry run leaves no file behind
    const r = await impJson([sealedExport, "--to", to, "--strategy", "fail", "--create-schema", "--key", "tags:tag"]);
    expect(r.applied).toBe(true);
    expect(r.plan.tables.every((t: { created: boolean }) => t.created)).toBe(true);
    expect(r.tables.find((t: { name: string }) => t.name === "users")).toEqual({ name: "users", inserted: 3, updated: 0, unchanged: 0, skipped: 0, rejected: 0 });
    for (const table of ["users", "posts", "teams", "people", "items", "codes", "tags"]) expect(rows(to, table), table).toEqual(rows(source, table));
    expect(rows(to, "users")[0]![2]).toBe("HASH-ann"); // sealed in the export, opened with the repository key
    expect(rows(to, "users")[1]![7]).toBe("text");
    expect(rows(to, "users")[0]![7]).toBe(2); // a REAL 2.0 in an untyped column stays a REAL
    const db = new Database(to);
    db.pragma("foreign_keys = ON");
    expect(db.pragma("foreign_key_check")).toEqual([]);
    // Sequences: an insert without an id gets one past the imported maximum.
    expect(db.prepare("INSERT INTO users (email) VALUES ('new@example.com')").run().lastInsertRowid).toBe(8);
    expect(db.prepare("INSERT INTO posts (user_id, body) VALUES (8, 'new')").run().lastInsertRowid).toBe(4);
    db.close();
  });

  it("a foreign-key cycle imports into an existing target whose keys are checked immediately", async () => {
    const to = target("cycle", `PRAGMA foreign_keys = ON;
      CREATE TABLE teams (id INTEGER PRIMARY KEY, lead_id INTEGER REFERENCES people(id), name TEXT);
      CREATE TABLE people (id INTEGER PRIMARY KEY, team_id INTEGER REFERENCES teams(id), name TEXT);`);
    const r = await impJson([plainExport, "--to", to, "--strategy", "merge", "--table", "teams", "--table", "people"]);
    expect(r.plan.orphans).toEqual([]);
    expect(rows(to, "teams")).toEqual(rows(source, "teams"));
    expect(rows(to, "people")).toEqual(rows(source, "people"));
  });

  const strategies: [string, object, unknown[][]][] = [
    ["skip", { inserted: 1, updated: 0, unchanged: 1, skipped: 1 }, [[1n, "one", 1n, "keep1"], [2n, "TWO", 20n, "keep2"], [3n, "three", 3n, "none"], [5n, "five", 5n, "keep5"]]],
    ["merge", { inserted: 1, updated: 1, unchanged: 1, skipped: 0 }, [[1n, "one", 1n, "keep1"], [2n, "two", 2n, "keep2"], [3n, "three", 3n, "none"], [5n, "five", 5n, "keep5"]]],
    ["overwrite", { inserted: 1, updated: 1, unchanged: 1, skipped: 0 }, [[1n, "one", 1n, "keep1"], [2n, "two", 2n, "none"], [3n, "three", 3n, "none"], [5n, "five", 5n, "keep5"]]],
  ];
  for (const [strategy, counts, expected] of strategies) {
    it(`--strategy ${strategy} on overlapping rows: exact counts and rows, nothing deleted`, async () => {
      const to = target(`items-${strategy}`, ITEMS);
      const r = await impJson([plainExport, "--to", to, "--strategy", strategy, "--table", "items"]);
      expect(r.tables).toEqual([{ name: "items", ...counts, rejected: 0 }]);
      expect(r.plan.tables[0]).toMatchObject({ insert: 1, unchanged: 1, conflict: 1, conflicts: [{ key: { id: "2" }, differences: [{ column: "name", target: "TWO", export: "two" }, { column: "qty", target: "20", export: "2" }] }] });
      expect(rows(to, "items")).toEqual(expected);
    });
  }

  it("--strategy fail stops at the first conflict naming table and key (34); the file is unchanged", async () => {
    const to = target("items-fail", ITEMS);
    const before = await sha(to);
    const r = await imp([plainExport, "--to", to, "--strategy", "fail", "--table", "items"]);
    expect(r.code).toBe(34);
    expect(errorLine(r)).toMatch(/^items: 1 row\(s\) exist in the target with other values, the first at id=2; nothing was written$/);
    expect(await sha(to)).toBe(before);
  });

  it("--dry-run prints the plan and leaves the file byte-for-byte as it was", async () => {
    const to = target("dry", ITEMS);
    const before = await sha(to);
    const r = await imp([plainExport, "--to", to, "--strategy", "overwrite", "--table", "items", "--dry-run"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/items\s+id\s+3\s+1\s+1\s+1\s+0\s+1\s+0/);
    expect(r.stdout).toMatch(/items id=2: name "TWO" → "two"; qty "20" → "2"/);
    expect(r.stdout).toMatch(/dry run: nothing was written/);
    expect(await sha(to)).toBe(before);
  });

  it("a constraint failure in the last table rolls everything back: the file is unchanged", async () => {
    const to = target("last-fails", `CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, password_hash TEXT, big INTEGER, score REAL, created DATETIME, avatar BLOB, misc, active BOOLEAN);
      CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), body TEXT CHECK (length(body) > 2));`);
    const before = await sha(to);
    const r = await imp([sealedExport, "--to", to, "--strategy", "merge", "--table", "users", "--table", "posts"]);
    expect(r.code).toBe(37);
    expect(errorLine(r)).toMatch(/^import into posts of sqlite:.*last-fails\.db: CHECK constraint failed: .*; nothing was written$/);
    expect(await sha(to)).toBe(before);
    expect(rows(to, "users")).toEqual([]);
  });

  it("--plan-out then --plan applies; a plan is refused once the target changed (35)", async () => {
    const to = target("planned", ITEMS);
    const plan = join(ws.dir, "items.plan.json");
    const before = await sha(to);
    const made = await impJson([plainExport, "--to", to, "--strategy", "merge", "--table", "items", "--plan-out", plan]);
    expect(made.applied).toBe(false);
    expect(await sha(to)).toBe(before);
    expect(((await stat(plan)).mode & 0o777).toString(8)).toBe("600");
    const saved = JSON.parse(await readFile(plan, "utf8"));
    expect(saved).toMatchObject({ strategy: "merge", target: `sqlite:${to}`, fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/), tables: [{ name: "items", key: ["id"], insert: 1, update: 1 }] });
    expect(saved.export.tables.find((t: { name: string }) => t.name === "items").sha256).toMatch(/^[0-9a-f]{64}$/);
    const wrongStrategy = await imp([plainExport, "--to", to, "--strategy", "overwrite", "--table", "items", "--plan", plan]);
    expect(wrongStrategy.code).toBe(35);
    expect(errorLine(wrongStrategy)).toMatch(/made with --strategy merge, not overwrite/);
    const otherExport = await imp([sealedExport, "--to", to, "--strategy", "merge", "--table", "items", "--plan", plan]);
    expect(otherExport.code).toBe(35);
    expect(errorLine(otherExport)).toMatch(/^the plan no longer applies: it was made for the export of \S+ from sqlite:.*source\.db, not this one/);
    const applied = await impJson([plainExport, "--to", to, "--strategy", "merge", "--table", "items", "--plan", plan]);
    expect(applied.tables).toEqual([{ name: "items", inserted: 1, updated: 1, unchanged: 1, skipped: 0, rejected: 0 }]);

    const later = target("planned-later", ITEMS);
    const plan2 = join(ws.dir, "later.plan.json");
    await impJson([plainExport, "--to", later, "--strategy", "skip", "--table", "items", "--plan-out", plan2]);
    execFileSync("sqlite3", [later, "UPDATE items SET qty = 99 WHERE id = 5"]);
    const changed = await sha(later);
    const refused = await imp([plainExport, "--to", later, "--strategy", "skip", "--table", "items", "--plan", plan2]);
    expect(refused.code).toBe(35);
    expect(errorLine(refused)).toMatch(/^the plan no longer applies: sqlite:.*planned-later\.db changed since the plan was made/);
    expect(await sha(later)).toBe(changed);
  });

  it("foreign-key orphans are in the plan; applying them fails at commit (37) and leaves the file unchanged", async () => {
    const to = target("orphans", `CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);
      CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), body TEXT);
      INSERT INTO users VALUES (1, 'ann'), (2, 'bob');`);
    const before = await sha(to);
    const plan = await impJson([plainExport, "--to", to, "--strategy", "skip", "--table", "posts", "--dry-run"]);
    expect(plan.plan.orphans).toEqual([{ table: "posts", foreignKey: "(user_id)", references: "users (id)", count: 1, samples: ["id=2 → user_id=7"] }]);
    const r = await imp([plainExport, "--to", to, "--strategy", "skip", "--table", "posts"]);
    expect(r.code).toBe(37);
    expect(errorLine(r)).toMatch(/^import into sqlite:.*orphans\.db rolled back at commit: FOREIGN KEY constraint failed; nothing was written$/);
    expect(await sha(to)).toBe(before);
  });

  it("values that cannot convert go to the reject file keyed by primary key; --strict stops instead (37)", async () => {
    const to = target("codes", "CREATE TABLE codes (id INTEGER PRIMARY KEY, code INTEGER);");
    const before = await sha(to);
    const strict = await imp([plainExport, "--to", to, "--strategy", "merge", "--table", "codes", "--strict"]);
    expect(strict.code).toBe(37);
    expect(errorLine(strict)).toMatch(/^codes\.code at \{"id":2\}: abc is not an integer \(INTEGER\); nothing was written$/);
    expect(await sha(to)).toBe(before);
    const cwd = join(ws.dir, "rejects-here");
    await mkdir(cwd);
    const r = await imp([plainExport, "--to", to, "--strategy", "merge", "--table", "codes", "--json"], cwd);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.tables).toEqual([{ name: "codes", inserted: 2, updated: 0, unchanged: 0, skipped: 0, rejected: 1 }]);
    expect(report.plan.tables[0].conversions).toEqual([{ column: "code", description: "TEXT (text) → INTEGER (integer)", before: "42", after: 42 }]);
    const file = join(cwd, "codes.db.rejects.ndjson");
    expect(report.rejectsFile).toBe(file);
    expect(((await stat(file)).mode & 0o777).toString(8)).toBe("600");
    expect((await readFile(file, "utf8")).trim().split("\n").map((l) => JSON.parse(l))).toEqual([{ table: "codes", key: { id: 2 }, column: "code", reason: "abc is not an integer", value: "abc" }]);
    expect(rows(to, "codes")).toEqual([[1n, 42n], [3n, 7n]]);
  });

  it("a table without a primary key needs --key naming a unique key of the target (36 otherwise)", async () => {
    const to = target("tags", "CREATE TABLE tags (tag TEXT NOT NULL UNIQUE, label TEXT); INSERT INTO tags VALUES ('a', 'old');");
    const refused = await imp([plainExport, "--to", to, "--strategy", "merge", "--table", "tags"]);
    expect(refused.code).toBe(36);
    expect(errorLine(refused)).toMatch(/^tags has no primary key in sqlite:.*tags\.db: rows cannot be matched$/);
    const r = await impJson([plainExport, "--to", to, "--strategy", "merge", "--table", "tags", "--key", "tags:tag"]);
    expect(r.tables).toEqual([{ name: "tags", inserted: 1, updated: 1, unchanged: 0, skipped: 0, rejected: 0 }]);
    expect(rows(to, "tags")).toEqual([["a", "first"], ["b", "second"]]);
    // Matched by a unique key, overwrite keeps the row's own primary key and resets the rest.
    const withId = target("tags-id", "CREATE TABLE tags (id INTEGER PRIMARY KEY, tag TEXT NOT NULL UNIQUE, label TEXT, hits INTEGER DEFAULT 0); INSERT INTO tags VALUES (10, 'a', 'old', 5);");
    const o = await impJson([plainExport, "--to", withId, "--strategy", "overwrite", "--table", "tags", "--key", "tags:tag"]);
    expect(o.tables).toEqual([{ name: "tags", inserted: 1, updated: 1, unchanged: 0, skipped: 0, rejected: 0 }]);
    expect(rows(withId, "tags")).toEqual([[10n, "a", "first", 0n], [11n, "b", "second", 0n]]);
  });

  it("a target with a different schema is refused before anything is written (36)", async () => {
    const to = target("other-schema", "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);");
    const before = await sha(to);
    const lacking = await imp([plainExport, "--to", to, "--strategy", "merge", "--table", "items"]);
    expect(lacking.code).toBe(36);
    expect(errorLine(lacking)).toMatch(/^items\.qty does not exist in sqlite:.*other-schema\.db$/);
    const missing = await imp([plainExport, "--to", to, "--strategy", "merge", "--table", "codes"]);
    expect(missing.code).toBe(36);
    expect(errorLine(missing)).toMatch(/^table codes does not exist in sqlite:.*other-schema\.db$/);
    expect(missing.stderr).toMatch(/--create-schema/);
    const dangling = await imp([plainExport, "--to", to, "--strategy", "merge", "--table", "posts", "--create-schema"]);
    expect(dangling.code).toBe(36);
    expect(errorLine(dangling)).toMatch(/^posts would be created with a foreign key to users, which is neither in sqlite:.*other-schema\.db nor imported$/);
    expect(await sha(to)).toBe(before);
  });

  it("imports an export from the repository by id, names the backup taken first; a backup id is refused", async () => {
    const stored = await runCli(["export", `sqlite:${source}`, "--table", "items", "--json"], { env: ws.env });
    const id = JSON.parse(stored.stdout).id as string;
    const to = target("from-repo", ITEMS);
    const r = await impJson([id, "--to", to, "--strategy", "overwrite", "--backup-first"]);
    expect(r.backupId).toMatch(/^\d{8}T\d{6}Z/);
    expect(r.undo).toBe(`holdfast restore ${r.backupId} --to sqlite:${to} --in-place`);
    expect(r.plan.backupId).toBe(r.backupId);
    const list = JSON.parse((await runCli(["list", "--json"], { env: ws.env })).stdout) as { backups: { id: string; kind: string; source: string }[] };
    expect(list.backups.find((b) => b.id === r.backupId)).toMatchObject({ kind: "full" });
    const notExport = await imp([r.backupId, "--to", to, "--strategy", "skip"]);
    expect(notExport.code).toBe(2);
    expect(errorLine(notExport)).toMatch(/is a full backup, not an export/);
  });

  it("bad exports: wrong key (8), truncated (10), newer format (23), each with one line and the target unchanged", async () => {
    const to = target("bad-input", ITEMS);
    const before = await sha(to);
    const wrong = join(ws.dir, "wrong-pass.txt");
    await writeFile(wrong, "not the passphrase\n", { mode: 0o600 });
    const wrongKey = await runCli(["import", sealedExport, "--to", to, "--strategy", "skip"], { env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: wrong } });
    expect(wrongKey.code).toBe(8);
    expect(errorLine(wrongKey)).toMatch(/^wrong passphrase for /);

    const cut = join(ws.dir, "cut.export");
    await writeFile(cut, await readFile(plainExport));
    await truncate(cut, Math.floor((await stat(plainExport)).size * 0.6));
    const truncated = await imp([cut, "--to", to, "--strategy", "skip", "--table", "items"]);
    expect(truncated.code).toBe(10);

    const dir = join(ws.dir, "newer");
    await mkdir(dir);
    execFileSync("sh", ["-c", `zstd -dc '${plainExport}' | tar -x -C '${dir}'`]);
    const manifest = JSON.parse(await readFile(join(dir, "export.json"), "utf8"));
    await writeFile(join(dir, "export.json"), JSON.stringify({ ...manifest, formatVersion: 2 }));
    const newer = join(ws.dir, "newer.export");
    const tables = (await readdir(join(dir, "tables"))).sort().map((f) => `tables/${f}`);
    execFileSync("sh", ["-c", `cd '${dir}' && tar -c export.json schema.json ${tables.join(" ")} | zstd -q -o '${newer}'`]);
    const future = await imp([newer, "--to", to, "--strategy", "skip"]);
    expect(future.code).toBe(23);
    expect(errorLine(future)).toMatch(/is export format 2, newer than this Holdfast reads \(1\)/);
    expect(await sha(to)).toBe(before);
  });

  it("imports a PostgreSQL export: booleans 0/1, timestamps ISO text, JSON text, exact decimals, bytes, big integers; ids continue", async () => {
    await cluster.query("CREATE DATABASE conv");
    await cluster.query(
      `CREATE TABLE events (id bigserial PRIMARY KEY, flag boolean, at timestamptz, doc jsonb, price numeric(10,2), raw bytea, big bigint, ratio double precision, uid uuid, day date, name varchar(40) NOT NULL);
       INSERT INTO events (flag, at, doc, price, raw, big, ratio, uid, day, name) VALUES
         (true, '2026-03-01 12:00:00.123456+05', '{"a": [1, 2.5]}', 12.50, '\\x00ff', 9223372036854775807, 0.5, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2026-03-01', 'ann'),
         (false, NULL, 'null', -0.5, '\\x', -1, '-Infinity', NULL, NULL, 'bob'),
         (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'cy'),
         (NULL, NULL, NULL, NULL, NULL, NULL, 'NaN', NULL, NULL, 'nan');`,
      "conv",
    );
    const file = join(ws.dir, "pg.export");
    const exported = await runCli(["export", cluster.url("conv"), "--out", file, "--encryption", "none"], { env: ws.env });
    expect(exported.code, exported.stderr).toBe(0);
    const to = join(ws.dir, "from-pg.db");
    const r = await impJson([file, "--to", to, "--strategy", "fail", "--create-schema", "--rejects", join(ws.dir, "pg.rejects.ndjson")]);
    expect(r.tables).toEqual([{ name: "events", inserted: 3, updated: 0, unchanged: 0, skipped: 0, rejected: 1 }]);
    expect(JSON.parse(await readFile(join(ws.dir, "pg.rejects.ndjson"), "utf8"))).toEqual({ table: "events", key: { id: 4 }, column: "ratio", reason: "NaN cannot be stored in SQLite (it would read back as NULL)", value: "NaN" });
    const db = new Database(to);
    db.defaultSafeIntegers(true);
    const declared = (db.prepare("SELECT name, type FROM pragma_table_info('events')").raw(true).all() as string[][]).map(([n, t]) => `${n} ${t}`);
    expect(declared).toEqual(["id INTEGER", "flag BOOLEAN", "at TEXT", "doc TEXT", "price TEXT", "raw BLOB", "big bigint", "ratio double precision", "uid TEXT", "day TEXT", "name character varying(40)"]);
    expect(db.prepare("SELECT * FROM events ORDER BY id").raw(true).all()).toEqual([
      [1n, 1n, "2026-03-01T07:00:00.123456Z", '{"a":[1,2.5]}', "12.50", Buffer.from([0, 255]), 9223372036854775807n, 0.5, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2026-03-01", "ann"],
      [2n, 0n, null, "null", "-0.50", Buffer.alloc(0), -1n, -Infinity, null, null, "bob"],
      [3n, null, null, null, null, null, null, null, null, null, "cy"],
    ]);
    expect(db.prepare("INSERT INTO events (name) VALUES ('new')").run().lastInsertRowid).toBe(4n);
    db.close();
  });
});
