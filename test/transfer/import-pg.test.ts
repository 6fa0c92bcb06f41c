import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, runCli, workspace, type RunResult, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { fingerprint } from "../support/pg-data.js";

/**
 * holdfast import into real PostgreSQL databases, through the built CLI: SQLite → PostgreSQL
 * with --create-schema, PostgreSQL → SQLite → PostgreSQL, strategies on overlapping rows, dry
 * runs and failures that leave the target as it was, plans, rejects, --backup-first, and a
 * password in the URL that never reaches the output.
 */
let ws: Workspace;
let cluster: PgCluster;
let dbs = 0;

beforeAll(async () => {
  [ws, cluster] = await Promise.all([workspace(), startCluster()]);
}, 30_000);
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

/** A fresh database made by SQL; returns its name. */
async function database(sql: string): Promise<string> {
  const name = `d${++dbs}`;
  await cluster.query(`CREATE DATABASE ${name}`);
  if (sql) await cluster.query(sql, name);
  return name;
}

let exports = 0;
async function exportFile(source: string, ...args: string[]): Promise<string> {
  const file = join(ws.dir, `e${++exports}.export`);
  const r = await runCli(["export", source, "--out", file, "--encryption", "none", ...args], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  return file;
}

const imp = (args: string[], cwd = ws.dir): Promise<RunResult> => runCli(["import", ...args], { env: ws.env, cwd });
async function impJson(args: string[]) {
  const r = await imp([...args, "--json"]);
  expect(r.code, r.stderr.slice(-800)).toBe(0);
  return JSON.parse(r.stdout);
}

/** Every table's independent fingerprint (ordered md5 of the rows' text). */
async function state(db: string, tables: string[]): Promise<string[]> {
  return Promise.all(tables.map((t) => fingerprint(cluster, db, t)));
}

const ITEMS_SRC = "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int); INSERT INTO items VALUES (1, 'same', 1), (2, 'new name', 20), (3, 'added', 3);";
const ITEMS_DST = "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int, note text DEFAULT 'dflt'); INSERT INTO items VALUES (1, 'same', 1, 'kept 1'), (2, 'old name', 2, 'kept 2'), (4, 'only here', 4, 'kept 4');";
const items = (db: string) => cluster.query<{ id: number; name: string; qty: number; note: string }>("SELECT * FROM items ORDER BY id", db);

describe.concurrent("import into PostgreSQL through the CLI", () => {
  it("SQLite → PostgreSQL with --create-schema: the plan names each detected form; values, types and the next id are right", async () => {
    const path = join(ws.dir, "app.db");
    const db = new Database(path);
    db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, active BOOLEAN, at_ms DATETIME, at_s DATETIME, at_iso DATETIME,
                                 score REAL, avatar BLOB, big INTEGER);`);
    const add = db.prepare("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    add.run(1, "ann@example.com", 1, 1627303906122, 1627303906, "2021-07-26 12:51:46", 1.25, Buffer.from([0, 255, 16]), 9223372036854775807n);
    add.run(9, "bob@example.com", 0, 1700000000123, 1700000000, "2023-11-14T22:13:20Z", -0.5, null, -9223372036854775808n);
    db.close();
    const file = await exportFile(`sqlite:${path}`);
    const name = await database("");
    const to = cluster.url(name);
    const dry = await imp([file, "--to", to, "--strategy", "fail", "--create-schema", "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/users\s+id\s+2\s+2\s+0\s+0\s+0\s+0\s+0\s+\(table created\)/);
    expect(dry.stdout).toContain("users.at_ms: DATETIME (epoch milliseconds) → timestamp with time zone, e.g. 1627303906122 → \"2021-07-26T12:51:46.122Z\"");
    expect(dry.stdout).toMatch(/users\.at_s: DATETIME \(epoch seconds\) → timestamp with time zone/);
    expect(dry.stdout).toMatch(/users\.at_iso: DATETIME \(ISO 8601 text\) → timestamp with time zone/);
    expect(dry.stdout).toMatch(/users\.active: BOOLEAN \(0\/1, true\/false\) → boolean/);
    expect(await cluster.query("SELECT relname FROM pg_class WHERE relname = 'users'", name)).toEqual([]); // the dry run created nothing

    const r = await impJson([file, "--to", to, "--strategy", "fail", "--create-schema"]);
    expect(r.tables).toEqual([{ name: "users", inserted: 2, updated: 0, unchanged: 0, skipped: 0, rejected: 0 }]);
    const rows = await cluster.query<Record<string, unknown>>(
      `SET TimeZone = 'UTC'; SELECT id::text, active, at_ms::text, at_s::text, at_iso::text, score::text, encode(avatar, 'hex') AS avatar, big::text,
              pg_typeof(id)::text AS t_id, pg_typeof(score)::text AS t_score, pg_typeof(avatar)::text AS t_avatar, pg_typeof(big)::text AS t_big FROM users ORDER BY id`,
      name,
    );
    expect(rows).toEqual([
      { id: "1", active: true, at_ms: "2021-07-26 12:51:46.122+00", at_s: "2021-07-26 12:51:46+00", at_iso: "2021-07-26 12:51:46+00", score: "1.25", avatar: "00ff10", big: "9223372036854775807", t_id: "bigint", t_score: "double precision", t_avatar: "bytea", t_big: "bigint" },
      { id: "9", active: false, at_ms: "2023-11-14 22:13:20.123+00", at_s: "2023-11-14 22:13:20+00", at_iso: "2023-11-14 22:13:20+00", score: "-0.5", avatar: null, big: "-9223372036854775808", t_id: "bigint", t_score: "double precision", t_avatar: "bytea", t_big: "bigint" },
    ]);
    expect(await cluster.query("INSERT INTO users (email) VALUES ('new@example.com') RETURNING id::text", name)).toEqual([{ id: "10" }]);
  });

  it("PostgreSQL → SQLite → PostgreSQL: equal content by an independent md5 of the ordered rows", async () => {
    const SCHEMA = `CREATE TABLE people (id bigserial PRIMARY KEY, name text NOT NULL, born date, seen timestamptz, ok boolean, ratio float8, raw bytea, big bigint);
      CREATE TABLE notes (id int PRIMARY KEY, person_id bigint REFERENCES people DEFERRABLE, body text);`;
    const src = await database(`${SCHEMA}
      INSERT INTO people (name, born, seen, ok, ratio, raw, big) SELECT 'p' || i || E' ✓\\t"q"', date '2000-01-01' + i, timestamptz '2026-01-01 00:00:00.123456+00' + i * interval '1 hour',
        CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END, i / 7.0, CASE WHEN i % 4 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') END, i * 1000000000000 FROM generate_series(1, 200) i;
      INSERT INTO notes SELECT i, 1 + i % 200, CASE WHEN i % 5 = 0 THEN '' ELSE 'note ' || i END FROM generate_series(1, 300) i;`);
    const first = await exportFile(cluster.url(src));
    const lite = join(ws.dir, "middle.db");
    const a = await impJson([first, "--to", lite, "--strategy", "fail", "--create-schema"]);
    expect(a.tables.map((t: { inserted: number }) => t.inserted)).toEqual([200, 300]);
    const second = await exportFile(`sqlite:${lite}`);
    const dst = await database(SCHEMA);
    const b = await impJson([second, "--to", cluster.url(dst), "--strategy", "fail"]);
    expect(b.tables).toEqual([
      { name: "people", inserted: 200, updated: 0, unchanged: 0, skipped: 0, rejected: 0 },
      { name: "notes", inserted: 300, updated: 0, unchanged: 0, skipped: 0, rejected: 0 },
    ]);
    expect(await state(dst, ["people", "notes"])).toEqual(await state(src, ["people", "notes"]));
    expect(await cluster.query("INSERT INTO people (name) VALUES ('next') RETURNING id::int", dst)).toEqual([{ id: 201 }]);
  });

  it("PG → PG, every kind of value over several chunks (direct COPY and staged): equal content by md5, jsonb numbers with all their digits", async () => {
    const SCHEMA = `CREATE TABLE kinds (id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, num numeric, f8 float8, f4 real, ok bool, tx text, vc varchar(20), ch char(5),
      raw bytea, d date, ts timestamp, tz timestamptz, tm time, iv interval, u uuid, jb jsonb, arr text[], ip inet);
      CREATE TABLE docs (id int PRIMARY KEY, js json);`;
    const src = await database(`${SCHEMA}
      INSERT INTO kinds SELECT i,
        (ARRAY[-32768, 32767, 0])[1 + i % 3], (ARRAY[-2147483648, 2147483647, i])[1 + i % 3], (ARRAY[-9223372036854775808, 9223372036854775807, 9007199254740993, i])[1 + i % 4],
        (ARRAY['NaN', '12345678901234567890.000000000001', '-0.5', i::text])[1 + i % 4]::numeric,
        (ARRAY['0.1', '1e300', 'NaN', 'Infinity', '-Infinity', '5e-324', (i / 7.0)::text])[1 + i % 7]::float8, (i / 3.0)::real,
        CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END,
        (ARRAY[E'tab\there', E'new\nline\r', E'back\\\\slash \\\\N', '"quoted" / é€😀', '', E'\x01\x7f', 'plain ' || i])[1 + i % 7],
        'v' || i, 'c' || (i % 10), CASE WHEN i % 4 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') END,
        (ARRAY['infinity', '0044-03-15 BC', (date '2000-01-01' + i)::text])[1 + i % 3]::date,
        timestamp '2026-01-01 00:00:00.123456' + i * interval '1 minute', (ARRAY['-infinity', '0044-03-15 12:00:00+00 BC', (timestamptz '2026-01-01 00:00:00.5+00' + i * interval '1 second')::text])[1 + i % 3]::timestamptz,
        time '10:00' + i * interval '1 second', i * interval '1 day 2 hours',  md5(i::text)::uuid,
        (ARRAY['{"big": 12345678901234567890123, "s": "x\\ty \\u00e9", "n": [1, null, true]}', '{"$json": 1}', 'null', '"text"', '[]', '{"k": {"deep": [[1.50]]}}'])[1 + i % 6]::jsonb,
        ARRAY['a b', NULL, E'q"\\\\'], ('10.0.' || (i % 256) || '.1/24')::inet
      FROM generate_series(1, 3000) i;
      INSERT INTO docs SELECT i, (ARRAY['{"a":  1}', '[1, 2]', 'null', '"s"'])[1 + i % 4]::json FROM generate_series(1, 2000) i;`);
    const file = await exportFile(cluster.url(src));
    // Direct: an empty table, COPY straight in. Staged: a table holding one row the export overwrites.
    const direct = await database(SCHEMA);
    const staged = await database(`${SCHEMA} INSERT INTO kinds (id, tx) VALUES (1, 'old');`);
    const a = await impJson([file, "--to", cluster.url(direct), "--strategy", "fail"]);
    expect(a.tables).toEqual([expect.objectContaining({ name: "docs", inserted: 2000, rejected: 0 }), expect.objectContaining({ name: "kinds", inserted: 3000, rejected: 0 })]);
    const b = await impJson([file, "--to", cluster.url(staged), "--strategy", "overwrite"]);
    expect(b.tables[1]).toMatchObject({ name: "kinds", inserted: 2999, updated: 1, rejected: 0 });
    const want = await state(src, ["kinds"]);
    expect(await state(direct, ["kinds"])).toEqual(want);
    expect(await state(staged, ["kinds"])).toEqual(want);
    // A json column's documents are carried as JSON (their spacing is not): equal as documents.
    const docs = (db: string) => cluster.query("SELECT md5(string_agg(id || ':' || js::jsonb::text, ',' ORDER BY id)) AS m FROM docs", db);
    expect(await docs(direct)).toEqual(await docs(src));
    const big = await cluster.query<{ v: string }>("SELECT jb->>'big' AS v FROM kinds WHERE id = 6", direct);
    expect(big).toEqual([{ v: "12345678901234567890123" }]);
  });

  const strategies: [string, object, { id: number; name: string; qty: number; note: string }[]][] = [
    ["skip", { inserted: 1, updated: 0, unchanged: 1, skipped: 1 }, [{ id: 1, name: "same", qty: 1, note: "kept 1" }, { id: 2, name: "old name", qty: 2, note: "kept 2" }, { id: 3, name: "added", qty: 3, note: "dflt" }, { id: 4, name: "only here", qty: 4, note: "kept 4" }]],
    ["merge", { inserted: 1, updated: 1, unchanged: 1, skipped: 0 }, [{ id: 1, name: "same", qty: 1, note: "kept 1" }, { id: 2, name: "new name", qty: 20, note: "kept 2" }, { id: 3, name: "added", qty: 3, note: "dflt" }, { id: 4, name: "only here", qty: 4, note: "kept 4" }]],
    ["overwrite", { inserted: 1, updated: 1, unchanged: 1, skipped: 0 }, [{ id: 1, name: "same", qty: 1, note: "kept 1" }, { id: 2, name: "new name", qty: 20, note: "dflt" }, { id: 3, name: "added", qty: 3, note: "dflt" }, { id: 4, name: "only here", qty: 4, note: "kept 4" }]],
  ];
  for (const [strategy, counts, expected] of strategies) {
    it(`PG → PG --strategy ${strategy} on overlapping rows: exact counts and rows, the row outside the export kept`, async () => {
      const file = await exportFile(cluster.url(await database(ITEMS_SRC)));
      const dst = await database(ITEMS_DST);
      const r = await impJson([file, "--to", cluster.url(dst), "--strategy", strategy]);
      expect(r.tables).toEqual([{ name: "items", ...counts, rejected: 0 }]);
      expect(r.plan.tables[0]).toMatchObject({ insert: 1, unchanged: 1, conflict: 1, conflicts: [{ key: { id: "2" }, differences: [{ column: "name", target: "old name", export: "new name" }, { column: "qty", target: "2", export: "20" }] }] });
      expect(await items(dst)).toEqual(expected);
    });
  }

  it("PG → PG --strategy fail stops at the conflict (34); --dry-run prints the plan; both leave the target's fingerprint as it was", async () => {
    const file = await exportFile(cluster.url(await database(ITEMS_SRC)));
    const dst = await database(ITEMS_DST);
    const before = await state(dst, ["items"]);
    const fail = await imp([file, "--to", cluster.url(dst), "--strategy", "fail"]);
    expect(fail.code).toBe(34);
    expect(errorLine(fail)).toMatch(/^items: 1 row\(s\) exist in the target with other values, the first at id=2; nothing was written$/);
    const dry = await imp([file, "--to", cluster.url(dst), "--strategy", "overwrite", "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/items\s+id\s+3\s+1\s+1\s+1\s+0\s+1\s+0/);
    expect(dry.stdout).toMatch(/items id=2: name "old name" → "new name"; qty "2" → "20"/);
    expect(dry.stdout).toMatch(/dry run: nothing was written/);
    expect(await state(dst, ["items"])).toEqual(before);
    expect(await cluster.query("SELECT relname FROM pg_class WHERE relname LIKE 'holdfast_stage_%'", dst)).toEqual([]);
  });

  it("--plan-out then --plan applies; a plan is refused (35) once another session changed the target", async () => {
    const file = await exportFile(cluster.url(await database(ITEMS_SRC)));
    const dst = await database(ITEMS_DST);
    const before = await state(dst, ["items"]);
    const plan = join(ws.dir, `${dst}.plan.json`);
    const made = await impJson([file, "--to", cluster.url(dst), "--strategy", "merge", "--plan-out", plan]);
    expect(made.applied).toBe(false);
    expect(await state(dst, ["items"])).toEqual(before);
    expect(((await stat(plan)).mode & 0o777).toString(8)).toBe("600");
    const applied = await impJson([file, "--to", cluster.url(dst), "--strategy", "merge", "--plan", plan]);
    expect(applied.tables).toEqual([{ name: "items", inserted: 1, updated: 1, unchanged: 1, skipped: 0, rejected: 0 }]);

    const later = await database(ITEMS_DST);
    const plan2 = join(ws.dir, `${later}.plan.json`);
    await impJson([file, "--to", cluster.url(later), "--strategy", "skip", "--plan-out", plan2]);
    await cluster.query("UPDATE items SET note = 'changed meanwhile' WHERE id = 4", later);
    const changed = await state(later, ["items"]);
    const refused = await imp([file, "--to", cluster.url(later), "--strategy", "skip", "--plan", plan2]);
    expect(refused.code).toBe(35);
    expect(errorLine(refused)).toMatch(/^the plan no longer applies: .* changed since the plan was made/);
    expect(await state(later, ["items"])).toEqual(changed);
  });

  it("a failure in the last table rolls every table back: fingerprints unchanged, no staging left", async () => {
    const src = await database(`CREATE TABLE alpha (id int PRIMARY KEY, v text); CREATE TABLE zeta (id int PRIMARY KEY, qty int);
      INSERT INTO alpha SELECT i, 'v' || i FROM generate_series(1, 500) i; INSERT INTO zeta VALUES (1, 5), (2, -1);`);
    const file = await exportFile(cluster.url(src));
    const dst = await database(`CREATE TABLE alpha (id int PRIMARY KEY, v text); CREATE TABLE zeta (id int PRIMARY KEY, qty int CHECK (qty >= 0));
      INSERT INTO alpha VALUES (1, 'old'); INSERT INTO zeta VALUES (9, 9);`);
    const before = await state(dst, ["alpha", "zeta"]);
    const r = await imp([file, "--to", cluster.url(dst), "--strategy", "overwrite"]);
    expect(r.code).toBe(37);
    expect(errorLine(r)).toMatch(/writing zeta: .*zeta_qty_check/);
    expect(await state(dst, ["alpha", "zeta"])).toEqual(before);
    expect(await cluster.query("SELECT relname FROM pg_class WHERE relname LIKE 'holdfast_stage_%'", dst)).toEqual([]);
  });

  it("a SQLite 'abc' in an INTEGER column goes to a 0600 reject file keyed by id; --strict stops instead (37)", async () => {
    const path = join(ws.dir, "codes.db");
    const db = new Database(path);
    db.exec("CREATE TABLE codes (id INTEGER PRIMARY KEY, code INTEGER); INSERT INTO codes VALUES (1, 42), (2, 'abc'), (3, 7);");
    db.close();
    const file = await exportFile(`sqlite:${path}`);
    const dst = await database("CREATE TABLE codes (id bigint PRIMARY KEY, code bigint);");
    const strict = await imp([file, "--to", cluster.url(dst), "--strategy", "merge", "--strict"]);
    expect(strict.code).toBe(37);
    expect(errorLine(strict)).toMatch(/^codes\.code at \{"id":2\}: .*abc.* is not an integer.*; nothing was written$/);
    expect(await cluster.query("SELECT count(*)::int AS n FROM codes", dst)).toEqual([{ n: 0 }]);
    const rejects = join(ws.dir, "codes.rejects.ndjson");
    const r = await impJson([file, "--to", cluster.url(dst), "--strategy", "merge", "--rejects", rejects]);
    expect(r.tables).toEqual([{ name: "codes", inserted: 2, updated: 0, unchanged: 0, skipped: 0, rejected: 1 }]);
    expect(r.rejectsFile).toBe(rejects);
    expect(((await stat(rejects)).mode & 0o777).toString(8)).toBe("600");
    const lines = (await readFile(rejects, "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toEqual([expect.objectContaining({ table: "codes", key: { id: 2 }, column: "code", value: "abc" })]);
    expect(await cluster.query("SELECT id, code FROM codes ORDER BY id", dst)).toEqual([{ id: "1", code: "42" }, { id: "3", code: "7" }]);
  });

  it("--backup-first names a backup whose restore gives back the state before the import", async () => {
    const file = await exportFile(cluster.url(await database(ITEMS_SRC)));
    const dst = await database(ITEMS_DST);
    const before = await state(dst, ["items"]);
    const r = await impJson([file, "--to", cluster.url(dst), "--strategy", "overwrite", "--backup-first"]);
    expect(r.backupId).toMatch(/^\d{8}T\d{6}Z/);
    expect(r.plan.backupId).toBe(r.backupId);
    expect(await state(dst, ["items"])).not.toEqual(before);
    const restored = await runCli(["restore", r.backupId, "--to", cluster.url(dst), "--in-place"], { env: ws.env });
    expect(restored.code, restored.stderr.slice(-800)).toBe(0);
    expect(await state(dst, ["items"])).toEqual(before);
  });

  it("a password in the target URL never appears in any output, success or failure", async () => {
    const secret = "s3cr3t-Pa55-in-url";
    await cluster.query(`CREATE ROLE app LOGIN PASSWORD '${secret}'`);
    const dst = await database(`${ITEMS_DST} ALTER TABLE items OWNER TO app;`);
    const file = await exportFile(cluster.url(await database(ITEMS_SRC)));
    const url = `postgres://app:${secret}@127.0.0.1:${cluster.port}/${dst}`;
    const outputs: RunResult[] = [];
    outputs.push(await imp([file, "--to", url, "--strategy", "merge", "--dry-run"]));
    expect(outputs[0]!.code, outputs[0]!.stderr).toBe(0);
    outputs.push(await imp([file, "--to", url, "--strategy", "fail"])); // 34: an error line naming the target
    expect(outputs[1]!.code).toBe(34);
    outputs.push(await imp([file, "--to", url.replace(secret, "wrong-" + secret), "--strategy", "merge"]));
    expect(outputs[2]!.code).not.toBe(0);
    outputs.push(await imp([file, "--to", url, "--strategy", "merge", "--json"]));
    expect(outputs[3]!.code, outputs[3]!.stderr).toBe(0);
    expect(JSON.parse(outputs[3]!.stdout).plan.target).toContain("app@127.0.0.1");
    for (const o of outputs) expect(o.stdout + o.stderr).not.toContain(secret);
    expect(await items(dst)).toHaveLength(4);
  });
});
