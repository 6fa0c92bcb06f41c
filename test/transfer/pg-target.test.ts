import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { driveImport, type DriveOptions } from "../support/import-driver.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { fingerprint } from "../support/pg-data.js";
import { openPgTarget } from "../../dist/transfer/pg-target.js";
import { ConversionError } from "../../dist/transfer/target.js";
import { JsonDocument } from "../../dist/transfer/values.js";

let ws: Workspace;
let cluster: PgCluster;
beforeAll(async () => {
  [ws, cluster] = await Promise.all([workspace({ encryption: "none" }), startCluster()]);
});
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
});

let exports = 0;
/** `holdfast export <source> --out <file> --encryption none` with the built CLI. */
async function exportFile(source: string, ...args: string[]): Promise<string> {
  const file = join(ws.dir, `e${++exports}.export`);
  const r = await runCli(["export", source, "--out", file, "--encryption", "none", ...args], { env: ws.env });
  if (r.code !== 0) throw new Error(`export failed (${r.code}): ${r.stderr}`);
  return file;
}

async function database(name: string, sql: string): Promise<void> {
  await cluster.query(`CREATE DATABASE ${name}`);
  if (sql) await cluster.query(sql, name);
}

/** Opens the database as an import target, drives one import, and closes it. */
async function importInto(db: string, file: string, options: DriveOptions) {
  const target = await openPgTarget(cluster.url(db));
  try {
    return await driveImport(target, file, options);
  } finally {
    await target.close();
  }
}

const TYPED = `CREATE TABLE typed (id serial PRIMARY KEY, small smallint, big bigint, dec numeric(20,4), f8 float8, ok boolean,
                 txt text, bin bytea, at timestamptz, local timestamp, day date, doc jsonb, raw json, uid uuid, tags text[], span interval);`;

describe("PostgreSQL import target", () => {
  it("PG → PG round trip: equal content for every type, NULL apart from '', a usable sequence, no staging left", async () => {
    await database("src_typed", `${TYPED}
      INSERT INTO typed (small, big, dec, f8, ok, txt, bin, at, local, day, doc, raw, uid, tags, span) VALUES
        (-32768, 9223372036854775807, 12.5, 1.5e-300, true, '', '\\x00ff5c0a'::bytea, '2021-07-26 12:51:46.122+00', '2026-01-01 10:00:00', '2026-02-28',
         '{"a": [1, null, "x"]}', '{"k":"v"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', ARRAY['a b', 'c"d', NULL], '1 day 02:00:00'),
        (NULL, -9223372036854775808, NULL, 'NaN', false, NULL, ''::bytea, NULL, NULL, NULL, 'null', NULL, NULL, '{}', NULL),
        (7, 0, -0.0001, '-Infinity', NULL, E'tab\\there\\nnew line \\\\ back\\\\slash\\r', NULL, 'infinity', NULL, NULL, '"s"', '[]', NULL, NULL, NULL);`);
    await database("dst_typed", TYPED);
    const file = await exportFile(cluster.url("src_typed"));
    const target = await openPgTarget(cluster.url("dst_typed"));
    try {
      const run = await driveImport(target, file, { strategy: "fail" });
      expect(run.results.typed).toEqual({ inserted: 3, updated: 0, unchanged: 0, skipped: 0 });
      expect(run.conversions.typed!.at).toBeUndefined(); // PG → PG: values pass as they were
      // ON COMMIT DROP: nothing of the staging is left, in this session or any other.
      expect(await cluster.query(`SELECT relname FROM pg_class WHERE relname LIKE 'holdfast_stage_%'`, "dst_typed")).toEqual([]);
    } finally {
      await target.close();
    }
    expect(await fingerprint(cluster, "dst_typed", "typed")).toBe(await fingerprint(cluster, "src_typed", "typed"));
    const nulls = await cluster.query<{ id: number; empty: boolean; none: boolean }>("SELECT id, txt = '' AS empty, txt IS NULL AS none FROM typed ORDER BY id", "dst_typed");
    expect(nulls.map((r) => [r.empty, r.none])).toEqual([[true, false], [null, true], [false, false]]);
    const next = await cluster.query<{ id: number }>("INSERT INTO typed (txt) VALUES ('after') RETURNING id", "dst_typed");
    expect(next[0]!.id).toBe(4);
  });

  it("SQLite → PG with --create-schema: epoch ms / epoch s / ISO DATETIME detected, 0/1 booleans, identity advanced, deferrable foreign keys", async () => {
    const path = join(ws.dir, "app.db");
    const db = new Database(path);
    db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, active BOOLEAN, at_ms DATETIME, at_s DATETIME, at_iso TIMESTAMP,
                                 score REAL, avatar BLOB, price DECIMAL(10,2), misc);
             CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), body TEXT);`);
    const add = db.prepare("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    add.run(1, "ann@example.com", 1, 1627303906122, 1627303906, "2021-07-26 12:51:46", 1.25, Buffer.from([0, 1, 2]), "12.50", "x");
    add.run(5, "bob@example.com", 0, 1700000000123, 1700000000, "2023-11-14T22:13:20Z", null, null, null, 3);
    db.prepare("INSERT INTO posts VALUES (1, 5, 'hello'), (2, 1, NULL)").run();
    db.close();
    await database("dst_sqlite", "");
    const file = await exportFile(`sqlite:${path}`);
    const run = await importInto("dst_sqlite", file, { strategy: "fail", createSchema: true });
    expect(run.conversions.users).toMatchObject({
      at_ms: "DATETIME (epoch milliseconds) → timestamp with time zone",
      at_s: "DATETIME (epoch seconds) → timestamp with time zone",
      at_iso: "TIMESTAMP (ISO 8601 text) → timestamp with time zone",
      active: "BOOLEAN (0/1, true/false) → boolean",
    });
    expect(run.results).toEqual({ users: { inserted: 2, updated: 0, unchanged: 0, skipped: 0 }, posts: { inserted: 2, updated: 0, unchanged: 0, skipped: 0 } });
    const rows = await cluster.query<Record<string, string | boolean | null>>(
      `SET TimeZone = 'UTC'; SELECT id::text, active, at_ms::text, at_s::text, at_iso::text, score::text, encode(avatar, 'hex') AS avatar, price::text, misc,
              pg_typeof(at_ms)::text AS t_at, pg_typeof(id)::text AS t_id, pg_typeof(active)::text AS t_active, pg_typeof(score)::text AS t_score FROM users ORDER BY id`,
      "dst_sqlite",
    );
    expect(rows[0]).toMatchObject({ id: "1", active: true, at_ms: "2021-07-26 12:51:46.122+00", at_s: "2021-07-26 12:51:46+00", at_iso: "2021-07-26 12:51:46+00", score: "1.25", avatar: "000102", price: "12.5", misc: "x" });
    expect(rows[1]).toMatchObject({ id: "5", active: false, at_ms: "2023-11-14 22:13:20.123+00", at_s: "2023-11-14 22:13:20+00", at_iso: "2023-11-14 22:13:20+00", misc: "3" });
    expect(rows[0]).toMatchObject({ t_at: "timestamp with time zone", t_id: "bigint", t_active: "boolean", t_score: "double precision" });
    const fks = await cluster.query<{ d: boolean; i: boolean }>("SELECT condeferrable AS d, condeferred AS i FROM pg_constraint WHERE contype = 'f'", "dst_sqlite");
    expect(fks).toEqual([{ d: true, i: true }]);
    const next = await cluster.query<{ id: string }>("INSERT INTO users (email) VALUES ('new@example.com') RETURNING id::text", "dst_sqlite");
    expect(next[0]!.id).toBe("6");
  });

  it("conversions: range-checked integers, epoch detection, JSON as text; a value that cannot convert is a ConversionError", async () => {
    const target = await openPgTarget(cluster.url("postgres"));
    try {
      const col = (declaredType: string, type: string) => ({ name: "c", declaredType, type, nullable: true }) as never;
      const small = target.conversion(col("INTEGER", "integer"), col("smallint", "integer"), []);
      expect(small.convert(32767n)).toBe(32767n);
      expect(() => small.convert(70000n)).toThrow(ConversionError);
      expect(() => small.convert("abc")).toThrow(/"abc" is not an integer/);
      const when = target.conversion(col("DATETIME", "numeric"), col("timestamp with time zone", "timestamptz"), [1627303906122n, "2021-07-26 12:51:46", 1627303906n]);
      expect(when.description).toBe("DATETIME (ISO 8601 text, epoch milliseconds, epoch seconds) → timestamp with time zone");
      expect(when.convert(1627303906122n)).toBe("2021-07-26T12:51:46.122Z");
      expect(() => when.convert("next tuesday")).toThrow(ConversionError);
      const day = target.conversion(col("DATE", "numeric"), col("date", "date"), []);
      expect([day.convert(1627303906n), day.convert("2021-07-26")]).toEqual(["2021-07-26", "2021-07-26"]);
      const flag = target.conversion(col("BOOLEAN", "numeric"), col("boolean", "boolean"), [0n, 1n]);
      expect([flag.convert(0n), flag.convert("true"), flag.convert(null)]).toEqual([false, true, null]);
      expect(() => flag.convert(2n)).toThrow(ConversionError);
      expect(target.conversion(col("jsonb", "json"), col("jsonb", "json"), []).convert(new JsonDocument(null))).toBe("null");
    } finally {
      await target.close();
    }
  });

  describe("strategies on overlapping rows", () => {
    let file: string;
    const ITEMS = "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int, note text DEFAULT 'dflt');";
    beforeAll(async () => {
      await database("src_items", "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int); INSERT INTO items VALUES (1, 'same', 1), (2, 'new name', 20), (3, 'added', 3)");
      file = await exportFile(cluster.url("src_items"));
    });
    const target = async (db: string) => database(db, `${ITEMS} INSERT INTO items VALUES (1, 'same', 1, 'kept 1'), (2, 'old name', 2, 'kept 2'), (4, 'only here', 4, 'kept 4')`);
    const rows = (db: string) => cluster.query<{ id: number; name: string; qty: number; note: string }>("SELECT * FROM items ORDER BY id", db);

    it("compare: counts and a sample of the differences; skip keeps the target's row", async () => {
      await target("st_skip");
      const run = await importInto("st_skip", file, { strategy: "skip" });
      expect(run.comparisons.items).toEqual({
        insert: 1, unchanged: 1, conflict: 1,
        samples: [{ key: { id: "2" }, differences: [{ column: "name", target: "old name", export: "new name" }, { column: "qty", target: "2", export: "20" }] }],
      });
      expect(run.results.items).toEqual({ inserted: 1, updated: 0, unchanged: 1, skipped: 1 });
      expect(await rows("st_skip")).toEqual([
        { id: 1, name: "same", qty: 1, note: "kept 1" }, { id: 2, name: "old name", qty: 2, note: "kept 2" },
        { id: 3, name: "added", qty: 3, note: "dflt" }, { id: 4, name: "only here", qty: 4, note: "kept 4" },
      ]);
    });

    it("merge updates only the carried columns", async () => {
      await target("st_merge");
      const run = await importInto("st_merge", file, { strategy: "merge" });
      expect(run.results.items).toEqual({ inserted: 1, updated: 1, unchanged: 1, skipped: 0 });
      expect((await rows("st_merge"))[1]).toEqual({ id: 2, name: "new name", qty: 20, note: "kept 2" });
      expect(await rows("st_merge")).toHaveLength(4);
    });

    it("overwrite replaces the row: columns the export lacks go back to their default", async () => {
      await target("st_over");
      const run = await importInto("st_over", file, { strategy: "overwrite" });
      expect(run.results.items).toEqual({ inserted: 1, updated: 1, unchanged: 1, skipped: 0 });
      const after = await rows("st_over");
      expect(after[1]).toEqual({ id: 2, name: "new name", qty: 20, note: "dflt" });
      expect(after[0]).toEqual({ id: 1, name: "same", qty: 1, note: "kept 1" });
      expect(after[3]).toEqual({ id: 4, name: "only here", qty: 4, note: "kept 4" });
    });

    it("fail refuses on the first conflict, naming the key, before writing anything", async () => {
      await target("st_fail");
      const before = await fingerprint(cluster, "st_fail", "items");
      await expect(importInto("st_fail", file, { strategy: "fail" })).rejects.toMatchObject({ code: "IMPORT_CONFLICT", message: expect.stringMatching(/^items: key \(id\)=\(2\) exists with other values \(name, qty\)/) });
      expect(await fingerprint(cluster, "st_fail", "items")).toBe(before);
    });

    it("a unique key that is not the primary key matches rows too", async () => {
      await database("st_unique", "CREATE TABLE items (pk serial PRIMARY KEY, id int UNIQUE NOT NULL, name text NOT NULL, qty int); INSERT INTO items (id, name, qty) VALUES (2, 'old name', 2)");
      const target = await openPgTarget(cluster.url("st_unique"));
      try {
        const [t] = await target.tables();
        expect(t!.primaryKey).toEqual(["pk"]);
        const run = await driveImport(target, file, { strategy: "merge" });
        expect(run.results.items).toEqual({ inserted: 2, updated: 1, unchanged: 0, skipped: 0 });
      } finally {
        await target.close();
      }
      // The matched row keeps its primary key (ON CONFLICT also draws a serial value for it: PostgreSQL's way).
      const after = await cluster.query<{ pk: number; id: number; name: string }>("SELECT pk, id, name FROM items ORDER BY id", "st_unique");
      expect(after.map((r) => [r.id, r.name])).toEqual([[1, "same"], [2, "new name"], [3, "added"]]);
      expect(after[1]!.pk).toBe(1);
      expect(new Set(after.map((r) => r.pk)).size).toBe(3);
    });
  });

  it("GENERATED ALWAYS identity: inserted with OVERRIDING SYSTEM VALUE and advanced; generated columns never written; a key the target does not enforce and a missing column are refused", async () => {
    await database("src_ident", "CREATE TABLE acc (id serial PRIMARY KEY, name text, extra text, total int GENERATED ALWAYS AS (id * 2) STORED); INSERT INTO acc (name) SELECT 'n' || i FROM generate_series(1, 40) i");
    const file = await exportFile(cluster.url("src_ident"));
    await database("dst_ident", "CREATE TABLE acc (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, extra text, total int GENERATED ALWAYS AS (id * 2) STORED)");
    const run = await importInto("dst_ident", file, { strategy: "merge" });
    expect(run.results.acc).toEqual({ inserted: 40, updated: 0, unchanged: 0, skipped: 0 });
    expect(await cluster.query("INSERT INTO acc (name) VALUES ('next') RETURNING id, total", "dst_ident")).toEqual([{ id: 41, total: 82 }]);

    const target = await openPgTarget(cluster.url("dst_ident"));
    try {
      await target.begin();
      await target.stage("acc", ["id", "name"], (async function* () { yield [[1n, "x"]]; })());
      await expect(target.compare("acc", ["name"], ["id", "name"], 5)).rejects.toMatchObject({ code: "IMPORT_SCHEMA_MISMATCH", message: expect.stringMatching(/^acc: \(name\) is neither the primary key nor a unique key/) });
      await target.rollback();
      await target.begin();
      await expect(target.stage("acc", ["id", "nickname"], (async function* () {})())).rejects.toMatchObject({ code: "IMPORT_SCHEMA_MISMATCH", message: expect.stringContaining("staging acc") });
      await target.rollback();
    } finally {
      await target.close();
    }
  });

  describe("foreign keys", () => {
    const CYCLE = (deferrable: string) => `CREATE TABLE a (id int PRIMARY KEY, b_id int); CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a ${deferrable});
       ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b ${deferrable};`;
    let file: string;
    beforeAll(async () => {
      await database("src_cycle", `${CYCLE("DEFERRABLE")} BEGIN; SET CONSTRAINTS ALL DEFERRED; INSERT INTO a VALUES (1, 10), (2, NULL); INSERT INTO b VALUES (10, 1); COMMIT;`);
      file = await exportFile(cluster.url("src_cycle"));
    });

    it("a cycle of deferrable foreign keys imports in one transaction", async () => {
      await database("dst_cycle", CYCLE("DEFERRABLE"));
      const run = await importInto("dst_cycle", file, { strategy: "fail" });
      expect(run.orphans).toEqual([]);
      expect(await cluster.query("SELECT a.id, b.id AS b FROM a JOIN b ON b.id = a.b_id AND b.a_id = a.id", "dst_cycle")).toEqual([{ id: 1, b: 10 }]);
    });

    it("a NOT DEFERRABLE cycle is refused naming the constraint, the target unchanged", async () => {
      await database("dst_cycle_nd", CYCLE("NOT DEFERRABLE"));
      await expect(importInto("dst_cycle_nd", file, { strategy: "fail" })).rejects.toMatchObject({
        code: "IMPORT_SCHEMA_MISMATCH",
        message: expect.stringMatching(/^b: foreign key b_a_id_fkey is NOT DEFERRABLE and 1 imported row\(s\) reference rows of a /),
      });
      expect(await cluster.query("SELECT (SELECT count(*)::int FROM a) AS a, (SELECT count(*)::int FROM b) AS b", "dst_cycle_nd")).toEqual([{ a: 0, b: 0 }]);
    });

    it("orphans are reported (target ∪ staged against target ∪ staged); a dry run changes nothing", async () => {
      await database("src_orph", "CREATE TABLE parent (id int PRIMARY KEY); CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent DEFERRABLE); INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (1, 1), (2, 2), (3, 2), (4, NULL)");
      const only = await exportFile(cluster.url("src_orph"), "--table", "child");
      await database("dst_orph", "CREATE TABLE parent (id int PRIMARY KEY); CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent DEFERRABLE); INSERT INTO parent VALUES (1)");
      const target = await openPgTarget(cluster.url("dst_orph"));
      try {
        const before = await target.fingerprint(["parent", "child"]);
        const run = await driveImport(target, only, { strategy: "skip", dryRun: true });
        expect(run.orphans).toEqual([{ table: "child", foreignKey: "child_parent_id_fkey", references: "parent (id)", count: 2, samples: ["(id)=(2)", "(id)=(3)"] }]);
        expect(await target.fingerprint(["parent", "child"])).toBe(before);
        // Applied anyway, the deferred foreign key stops it at commit: rolled back, nothing written.
        await expect(driveImport(target, only, { strategy: "skip" })).rejects.toMatchObject({ code: "IMPORT_REJECTED", message: expect.stringContaining("child_parent_id_fkey") });
        expect(await target.fingerprint(["parent", "child"])).toBe(before);
      } finally {
        await target.close();
      }
    });
  });

  it("a failure in the last table (a CHECK) rolls back every table: the target's fingerprint is unchanged", async () => {
    const SCHEMA = "CREATE TABLE alpha (id int PRIMARY KEY, v text); CREATE TABLE zeta (id int PRIMARY KEY, qty int CHECK (qty >= 0));";
    await database("src_check", `CREATE TABLE alpha (id int PRIMARY KEY, v text); CREATE TABLE zeta (id int PRIMARY KEY, qty int);
      INSERT INTO alpha SELECT i, 'v' || i FROM generate_series(1, 500) i; INSERT INTO zeta VALUES (1, 5), (2, -1);`);
    const file = await exportFile(cluster.url("src_check"));
    await database("dst_check", `${SCHEMA} INSERT INTO alpha VALUES (1, 'old'); INSERT INTO zeta VALUES (9, 9);`);
    const target = await openPgTarget(cluster.url("dst_check"));
    try {
      const before = await target.fingerprint(["alpha", "zeta"]);
      await expect(driveImport(target, file, { strategy: "overwrite" })).rejects.toMatchObject({ code: "IMPORT_REJECTED", message: expect.stringMatching(/writing zeta: .*zeta_qty_check/) });
      expect(await target.fingerprint(["alpha", "zeta"])).toBe(before);
    } finally {
      await target.close();
    }
    expect(await cluster.query("SELECT count(*)::int AS n FROM alpha", "dst_check")).toEqual([{ n: 1 }]);
  });
});
