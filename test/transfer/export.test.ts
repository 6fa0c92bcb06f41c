import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, truncate, writeFile, stat } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { openExportFile, openRepositoryExport, type ExportReader } from "../../dist/transfer/reader.js";
import { JsonDocument } from "../../dist/transfer/values.js";
import { openRepository } from "../../dist/commands/open-repository.js";

let ws: Workspace;
let plain: Workspace;
let cluster: PgCluster;
beforeAll(async () => {
  [ws, plain, cluster] = await Promise.all([workspace(), workspace({ encryption: "none" }), startCluster()]);
});
afterAll(async () => {
  await cluster?.destroy();
  await ws?.cleanup();
  await plain?.cleanup();
});

const PASSPHRASE = "correct horse battery staple";

async function keysAndRepo() {
  return openRepository({ repo: ws.repo, passphrase: PASSPHRASE }, "required");
}

async function exportCli(args: string[], env = ws.env): Promise<{ id?: string; file?: string; manifest: { tables: { name: string; rows: number }[] } }> {
  const r = await runCli(["export", ...args, "--json"], { env });
  if (r.code !== 0) throw new Error(`export failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Every table's decoded rows, by table name (reads every stream to its end, so its checks ran). */
async function readAll(reader: ExportReader): Promise<Record<string, unknown[][]>> {
  const out: Record<string, unknown[][]> = {};
  try {
    for await (const t of reader.tables()) {
      const rows: unknown[][] = [];
      for await (const row of t.rows()) rows.push(row);
      out[t.entry.name] = rows;
    }
  } finally {
    await reader.close();
  }
  return out;
}

function sqliteFixture(path: string): void {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, password_hash TEXT, big INTEGER, score REAL, created DATETIME, avatar BLOB, misc);
           CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), body TEXT);
           CREATE TABLE audit_log (id INTEGER PRIMARY KEY, what TEXT);
           CREATE TABLE tokens (id INTEGER PRIMARY KEY, token TEXT, secret BLOB);`);
  const add = db.prepare("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  add.run(1, "ann@example.com", "PLAINHASH-ann-7f3c", 9223372036854775807n, 1.5, "2026-01-01 10:00:00", Buffer.from([0, 255, 16]), 2.0);
  add.run(2, "bob@example.com", "PLAINHASH-bob-91ad", -9223372036854775808n, 2.0, 1700000000, null, "text");
  add.run(3, "cé ✓ <\"quote\">\n", null, null, null, 1700000000123, Buffer.alloc(0), Buffer.from("blob"));
  db.prepare("INSERT INTO posts VALUES (?, ?, ?)").run(1, 1, "hello");
  db.prepare("INSERT INTO posts VALUES (?, ?, ?)").run(2, 3, "héllo");
  for (let i = 1; i <= 30; i++) db.prepare("INSERT INTO audit_log VALUES (?, ?)").run(i, `event ${i}`);
  db.prepare("INSERT INTO tokens VALUES (1, 'PLAINTOKEN-one', x'deadbeef')").run();
  db.close();
}

describe("export from SQLite", () => {
  let dbPath: string;
  beforeAll(() => {
    dbPath = join(ws.dir, "app.db");
    sqliteFixture(dbPath);
  });

  it("round-trips every storage class, NULLs, big integers and blobs through the reader; schema and sequences recorded", async () => {
    const file = join(ws.dir, "sqlite.export");
    await exportCli([`sqlite:${dbPath}`, "--out", file, "--sensitive", "users.password_hash,tokens.*"]);
    expect(((await stat(file)).mode & 0o777).toString(8)).toBe("600");
    const { keys } = await keysAndRepo();
    const reader = await openExportFile(file, { keys });
    expect(reader.manifest.source.engine).toBe("sqlite");
    const users = reader.schema.tables.find((t) => t.name === "users")!;
    expect(users.primaryKey).toEqual(["id"]);
    expect(users.uniqueKeys.map((k) => k.columns)).toEqual([["email"]]);
    expect(users.sequences).toEqual([{ column: "id", kind: "autoincrement", current: 3 }]);
    expect(users.columns.find((c) => c.name === "password_hash")).toMatchObject({ sensitive: true, type: "text", nullable: true });
    expect(reader.schema.tables.find((t) => t.name === "posts")!.foreignKeys).toEqual([expect.objectContaining({ columns: ["user_id"], references: { table: "users", columns: ["id"] } })]);
    // Referenced tables first.
    expect(reader.manifest.tables.map((t) => t.name).indexOf("users")).toBeLessThan(reader.manifest.tables.map((t) => t.name).indexOf("posts"));
    const data = await readAll(reader);
    const db = new Database(dbPath, { readonly: true });
    db.defaultSafeIntegers(true);
    const expected = db.prepare("SELECT * FROM users ORDER BY id").raw(true).all() as unknown[][];
    db.close();
    expect(data.users).toEqual(expected);
    expect(data.users![0]![3]).toBe(9223372036854775807n);
    expect(data.users![1]![3]).toBe(-9223372036854775808n);
    expect(data.users![0]![5]).toBe("2026-01-01 10:00:00"); // text in a DATETIME column stays text
    expect(data.users![2]![5]).toBe(1700000000123n);
    expect(data.users![0]![7]).toBe(2); // a REAL 2.0 in an untyped column stays a float
    expect(data.users![2]![7]).toEqual(Buffer.from("blob"));
    expect(data.tokens).toEqual([[1n, "PLAINTOKEN-one", Buffer.from([0xde, 0xad, 0xbe, 0xef])]]);
    expect(data.audit_log).toHaveLength(30);
  });

  it("filters tables and rows; a --where on a table not exported is refused", async () => {
    const r = await exportCli([`sqlite:${dbPath}`, "--table", "u*", "--table", "posts", "--table", "audit_*", "--exclude-table", "posts", "--where", "audit_log: id > 25", "--where", "users: email LIKE 'a%'"]);
    expect(r.manifest.tables).toEqual([expect.objectContaining({ name: "audit_log", rows: 5 }), expect.objectContaining({ name: "users", rows: 1 })]);
    const bad = await runCli(["export", `sqlite:${dbPath}`, "--table", "users", "--where", "posts: id = 1"], { env: ws.env });
    expect(bad.code).toBe(2);
    expect(errorLine(bad)).toMatch(/--where names table posts, which is not exported \(filtered out\)/);
    const typo = await runCli(["export", `sqlite:${dbPath}`, "--sensitive", "users.pasword_hash"], { env: ws.env });
    expect(typo.code).toBe(2);
    expect(errorLine(typo)).toMatch(/matches no exported column/);
  });

  it("sensitive values appear nowhere in a plaintext export, in a file or in the repository", async () => {
    const file = join(ws.dir, "plain.export");
    await exportCli([`sqlite:${dbPath}`, "--out", file, "--encryption", "none", "--sensitive", "users.password_hash", "--sensitive", "tokens.*"]);
    const tarBytes = execFileSync("zstd", ["-dc", file]);
    expect(tarBytes.includes("ann@example.com")).toBe(true); // the rest is in plaintext: the grep can find things
    for (const secret of ["PLAINHASH-ann-7f3c", "PLAINHASH-bob-91ad", "PLAINTOKEN-one", Buffer.from([0xde, 0xad, 0xbe, 0xef]).toString("base64")]) expect(tarBytes.includes(secret)).toBe(false);
    const out = join(ws.dir, "opened");
    await mkdir(out);
    execFileSync("sh", ["-c", `zstd -dc '${file}' | tar -x -C '${out}'`]);
    for (const f of ["export.json", "schema.json", ...(await readdir(join(out, "tables"))).map((t) => join("tables", t))]) expect(await readFile(join(out, f), "utf8")).not.toContain("PLAINHASH");

    const stored = await exportCli([`sqlite:${dbPath}`, "--encryption", "none", "--sensitive", "users.password_hash,tokens.*"]);
    const folder = join(ws.repo, "backups", stored.id!, "tables");
    for (const f of await readdir(folder)) {
      const content = execFileSync("zstd", ["-dc", join(folder, f)]);
      expect(content.includes("PLAINHASH")).toBe(false);
      expect(content.includes("PLAINTOKEN")).toBe(false);
    }
    const { repo, keys } = await keysAndRepo();
    const back = await readAll(await openRepositoryExport(repo, await repo.readManifest(stored.id!), { keys }));
    expect(back.users!.map((r) => r[2])).toEqual(["PLAINHASH-ann-7f3c", "PLAINHASH-bob-91ad", null]);
    // Without the key the sealed values stay sealed.
    const sealed = await readAll(await openExportFile(file, { keepSealed: true }));
    expect(sealed.users![0]![2]).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(sealed.users![0]![2]).not.toContain("PLAINHASH");
    // A plaintext repository has no key to seal with.
    const refused = await runCli(["export", `sqlite:${dbPath}`, "--sensitive", "users.password_hash"], { env: plain.env });
    expect(errorLine(refused)).toMatch(/--sensitive needs an encrypted repository/);
  });

  it("a tampered, truncated or newer-format export is refused with one clear error", async () => {
    const file = join(ws.dir, "tamper.export");
    await exportCli([`sqlite:${dbPath}`, "--out", file, "--encryption", "none"]);
    const dir = join(ws.dir, "tamper");
    await mkdir(dir);
    execFileSync("sh", ["-c", `zstd -dc '${file}' | tar -x -C '${dir}'`]);
    const users = (await readdir(join(dir, "tables"))).find((f) => f.endsWith("users.ndjson"))!;
    const original = await readFile(join(dir, "tables", users), "utf8");
    const repack = async (name: string) => {
      const out = join(ws.dir, name);
      // The streams in the order export.json lists them (a reader cannot seek back in a tar).
      const tables = (await readdir(join(dir, "tables"))).sort().map((f) => `tables/${f}`);
      execFileSync("sh", ["-c", `cd '${dir}' && tar -c export.json schema.json ${tables.join(" ")} | zstd -q -o '${out}'`]);
      return out;
    };
    await writeFile(join(dir, "tables", users), original.replace("ann@example.com", "eve@example.com"));
    await expect(readAll(await openExportFile(await repack("tampered.export")))).rejects.toMatchObject({ code: "CORRUPTED", message: expect.stringMatching(/users\.ndjson does not match the SHA-256/) });

    await writeFile(join(dir, "tables", users), original);
    const manifest = JSON.parse(await readFile(join(dir, "export.json"), "utf8"));
    await writeFile(join(dir, "export.json"), JSON.stringify({ ...manifest, formatVersion: 2 }));
    await expect(openExportFile(await repack("newer.export"))).rejects.toMatchObject({ code: "TOOL_VERSION" });

    const cut = join(ws.dir, "cut.export");
    await writeFile(cut, await readFile(file));
    await truncate(cut, Math.floor((await stat(file)).size * 0.6));
    await expect(openExportFile(cut).then(readAll)).rejects.toMatchObject({ code: "TRUNCATED" });
  });

  it("is listed and verified in the repository, never taken as `latest` by restore, and refused by restore by id", async () => {
    const db2 = join(ws.dir, "only-exported.db");
    sqliteFixture(db2);
    const r = await exportCli([`sqlite:${db2}`]);
    const list = JSON.parse((await runCli(["list", "--json"], { env: ws.env })).stdout) as { backups: { id: string; kind: string; engine: string }[] };
    expect(list.backups.find((b) => b.id === r.id)).toMatchObject({ kind: "export", engine: "export" });
    const verified = await runCli(["verify", r.id!, "--deep", "--json"], { env: ws.env });
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout).backups[0].deep.tables).toContainEqual({ name: "users", expectedRows: 3, actualRows: 3 });
    const latest = await runCli(["restore", "latest", "--source", `sqlite:${db2}`, "--to", join(ws.dir, "r.db")], { env: ws.env });
    expect(latest.code).toBe(12);
    expect(errorLine(latest)).toMatch(/no full backup of sqlite:.*only-exported\.db/);
    const byId = await runCli(["restore", r.id!, "--to", join(ws.dir, "r.db")], { env: ws.env });
    expect(byId.code).toBe(2);
    expect(errorLine(byId)).toMatch(/is an export of .* not a backup/);
    // Retention keeps exports apart: the export taken after the backup does not displace it.
    const taken = await runCli(["backup", `sqlite:${db2}`, "--json"], { env: ws.env });
    const backupId = (JSON.parse(taken.stdout) as { id: string }).id;
    const second = await exportCli([`sqlite:${db2}`]);
    const pruned = await runCli(["prune", "--keep-last", "1", "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0", "--dry-run", "--json"], { env: ws.env });
    const decisions = (JSON.parse(pruned.stdout) as { plan: { decisions: { id: string; keep: boolean; reasons: string[] }[] } }).plan.decisions;
    expect(decisions.find((d) => d.id === backupId)).toMatchObject({ keep: true, reasons: expect.arrayContaining(["newest"]) });
    expect(decisions.find((d) => d.id === second.id)).toMatchObject({ keep: true, reasons: expect.arrayContaining(["export newest"]) });
  });
});

describe("export from PostgreSQL", () => {
  it("reads every type in its documented form, keys, foreign keys, sequences and identity", async () => {
    await cluster.query("CREATE DATABASE typed");
    await cluster.query(
      `CREATE TABLE teams (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
       CREATE TABLE people (
         id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, team_id int REFERENCES teams(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
         small smallint, big bigint, price numeric(30,3), ratio double precision, active boolean, note varchar(40), photo bytea,
         seen timestamptz, local timestamp, born date, doc jsonb, raw json, uid uuid, tags int[], code text, UNIQUE (team_id, code));
       INSERT INTO teams (name) VALUES ('red'), ('blue');
       INSERT INTO people (team_id, small, big, price, ratio, active, note, photo, seen, local, born, doc, raw, uid, tags, code) VALUES
         (1, -32768, 9223372036854775807, 12345678901234567890.125, 'NaN', true, 'x', '\\x00ff10', '2026-03-01 12:00:00.123456+05', '2026-03-01 12:00:00', '2000-02-29',
          '{"a": [1, 2.5, "z"], "n": null}', 'null', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,2,3}', 'c1'),
         (2, NULL, -9223372036854775808, -0.5, 'Infinity', false, 'ü ✓', '\\x', '1999-12-31 23:59:59-08', NULL, NULL, '{"$json": 1}', '[]', NULL, NULL, 'c2'),
         (NULL, NULL, 42, NULL, 1.25, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);`,
      "typed",
    );
    const r = await exportCli([cluster.url("typed")]);
    const { repo, keys } = await keysAndRepo();
    const reader = await openRepositoryExport(repo, await repo.readManifest(r.id!), { keys });
    expect(reader.manifest.source).toMatchObject({ engine: "postgres", version: expect.stringMatching(/^1\d/) });
    const people = reader.schema.tables.find((t) => t.name === "people")!;
    expect(people.columns.map((c) => [c.name, c.type])).toEqual([
      ["id", "integer"], ["team_id", "integer"], ["small", "integer"], ["big", "integer"], ["price", "decimal"], ["ratio", "float"], ["active", "boolean"], ["note", "text"], ["photo", "bytes"],
      ["seen", "timestamptz"], ["local", "timestamp"], ["born", "date"], ["doc", "json"], ["raw", "json"], ["uid", "uuid"], ["tags", "other"], ["code", "text"],
    ]);
    expect(people.columns.find((c) => c.name === "note")).toMatchObject({ declaredType: "character varying(40)", nullable: true });
    expect(people.columns[0]).toMatchObject({ nullable: false });
    expect(people.primaryKey).toEqual(["id"]);
    expect(people.uniqueKeys).toEqual([{ name: "people_team_id_code_key", columns: ["team_id", "code"] }]);
    expect(people.foreignKeys).toEqual([{ name: "people_team_id_fkey", columns: ["team_id"], references: { table: "teams", columns: ["id"] }, onDelete: "CASCADE", onUpdate: "NO ACTION", deferrable: true }]);
    expect(people.sequences).toEqual([{ column: "id", kind: "identity", name: "public.people_id_seq", current: 3 }]);
    expect(reader.schema.tables.find((t) => t.name === "teams")!.sequences).toEqual([{ column: "id", kind: "serial", name: "public.teams_id_seq", current: 2 }]);
    const data = await readAll(reader);
    const [a, b, c] = data.people!;
    expect(a).toEqual([1n, 1n, -32768n, 9223372036854775807n, "12345678901234567890.125", NaN, true, "x", Buffer.from([0, 255, 16]), "2026-03-01T07:00:00.123456Z", "2026-03-01T12:00:00", "2000-02-29",
      new JsonDocument({ a: [1, 2.5, "z"], n: null }), new JsonDocument(null), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{1,2,3}", "c1"]);
    expect(b).toEqual([2n, 2n, null, -9223372036854775808n, "-0.500", Infinity, false, "ü ✓", Buffer.alloc(0), "2000-01-01T07:59:59Z", null, null, new JsonDocument({ $json: 1 }), new JsonDocument([]), null, null, "c2"]);
    expect(c!.slice(0, 6)).toEqual([3n, null, null, 42n, null, 1.25]);
    expect(data.teams).toEqual([[1n, "red"], [2n, "blue"]]);
  }, 30_000);

  it("two exports of one database at once: into the repository one waits for the other's lock (or refuses, 13, naming it), into files both run; the same rows and hashes, each verified", async () => {
    await cluster.query("CREATE DATABASE twice");
    await cluster.query("CREATE TABLE rows_ (id int PRIMARY KEY, body text); INSERT INTO rows_ SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 60000) i", "twice");
    const patient = { ...ws.env, HOLDFAST_LOCK_WAIT: "60s" };
    const runs = await Promise.all([
      exportCli([cluster.url("twice")], patient),
      exportCli([cluster.url("twice")], patient),
      exportCli([cluster.url("twice"), "--out", join(ws.dir, "twice-1.export")]),
      exportCli([cluster.url("twice"), "--out", join(ws.dir, "twice-2.export")]),
    ]);
    const [a, b] = runs;
    expect(a!.id).toBeDefined();
    expect(b!.id).toBeDefined();
    expect(a!.id).not.toBe(b!.id);
    type Entry = { name: string; rows: number; sha256: string };
    const tables = runs.map((r) => (r.manifest.tables as Entry[]).map((t) => [t.name, t.rows, t.sha256]));
    expect(tables[0]).toEqual([["rows_", 60000, expect.stringMatching(/^[0-9a-f]{64}$/)]]);
    for (const t of tables.slice(1)) expect(t).toEqual(tables[0]);
    const verified = await runCli(["verify", a!.id!, b!.id!, "--deep", "--json"], { env: ws.env });
    expect(verified.code, verified.stderr).toBe(0);
    const { repo, keys } = await keysAndRepo();
    for (const id of [a!.id!, b!.id!]) expect((await readAll(await openRepositoryExport(repo, await repo.readManifest(id), { keys }))).rows_).toHaveLength(60000);
    for (const f of ["twice-1.export", "twice-2.export"]) expect((await readAll(await openExportFile(join(ws.dir, f), { keys }))).rows_).toHaveLength(60000);
    // Without a wait, the second of two at once refuses, naming the holder, and leaves nothing behind.
    const before = JSON.parse((await runCli(["list", "--json"], { env: ws.env })).stdout).backups.length as number;
    const both = await Promise.all([0, 1].map(() => runCli(["export", cluster.url("twice"), "--json"], { env: ws.env })));
    expect(both.map((r) => r.code).sort()).toEqual([0, 13]);
    expect(errorLine(both.find((r) => r.code === 13)!)).toMatch(/another Holdfast process holds the lock for this source \(export of postgres:/);
    expect(JSON.parse((await runCli(["list", "--json"], { env: ws.env })).stdout).backups.length).toBe(before + 1);
  }, 90_000);
});
