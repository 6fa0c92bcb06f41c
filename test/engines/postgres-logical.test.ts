import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { runCli, workspace, errorLine, type Workspace } from "../support/cli.js";
import { databases, fingerprint, seedApp, tableNames } from "../support/pg-data.js";
import { flipByte } from "../support/damage.js";
import { sealed } from "../../src/repository/json-object.js";

let pg: PgCluster;
let ws: Workspace;
const TABLES = ["billing.invoices", "public.alembic_version", "public.audit_log", "public.customers", "public.orders"];

beforeAll(async () => {
  pg = await startCluster();
  await seedApp(pg, "app");
  ws = await workspace();
});
afterAll(async () => {
  await pg?.destroy();
  await ws?.cleanup();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are read as loose JSON in assertions
async function backupJson(args: string[]): Promise<Record<string, any>> {
  const r = await runCli(["backup", ...args, "--json"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

async function sameContent(a: string, b: string, tables = TABLES): Promise<void> {
  for (const t of tables) expect(await fingerprint(pg, b, t), t).toBe(await fingerprint(pg, a, t));
}

describe("postgres logical backup → list/show → verify --deep → restore", () => {
  it("backs up in custom format with facts from the same snapshot, verifies deeply and restores identically", async () => {
    const m = await backupJson([pg.url("app"), "--label", "env=test"]);
    expect(m.engine).toBe("postgres");
    expect(m.source.uri).toBe(pg.url("app"));
    expect(m.source.version).toMatch(/^\d+\.\d+/);
    expect(m.files.map((f: { key: string }) => f.key)).toEqual([`backups/${m.id}/dump.pgdump.zst.age`]);
    expect(m.tables.map((t: { name: string }) => t.name)).toEqual(TABLES);
    const rows = Object.fromEntries(m.tables.map((t: { name: string; rows: number }) => [t.name, t.rows]));
    expect(rows).toEqual({ "billing.invoices": 1000, "public.alembic_version": 1, "public.audit_log": 50, "public.customers": 3000, "public.orders": 6000 });
    // Tables of exactly hashing types get the record hash; numeric, float, jsonb and arrays the row text's.
    const methods = Object.fromEntries(m.tables.map((t: { name: string; checksum: string }) => [t.name, /^(r?h64sum):-?\d+$/.exec(t.checksum)?.[1]]));
    expect(methods).toEqual({ "billing.invoices": "h64sum", "public.alembic_version": "rh64sum", "public.audit_log": "rh64sum", "public.customers": "h64sum", "public.orders": "h64sum" });
    expect(m.details.dumpFormat).toBe("custom");
    expect(m.details.pgDumpVersion).toMatch(/^\d+\.\d+/);
    expect(m.details.serverVersion).toBe(m.source.version);
    expect(m.details.databaseSizeBytes).toBeGreaterThan(1_000_000);
    expect(m.details.snapshotId).toMatch(/^[0-9A-F]+-[0-9A-F]+-\d+$/);
    expect(m.details.migrationVersion).toEqual({ tool: "alembic", version: "4f2a9c1e77b0" });
    expect(m.details.extensions.map((e: { name: string }) => e.name)).toEqual(["pgcrypto", "plpgsql"]);

    const stored = join(ws.repo, "backups", m.id);
    for (const f of await readdir(stored)) expect((await stat(join(stored, f))).mode & 0o777, f).toBe(0o600);

    const list = await runCli(["list", "--json"], { env: ws.env });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).backups.map((b: { id: string }) => b.id)).toContain(m.id);
    const show = await runCli(["show", m.id], { env: ws.env });
    expect(show.code).toBe(0);
    expect(show.stdout).toContain("public.customers");

    const v = await runCli(["verify", m.id, "--deep", "--json"], { env: ws.env });
    expect(v.code, v.stderr).toBe(0);
    const report = JSON.parse(v.stdout);
    expect(report.ok).toBe(true);
    expect(report.backups[0].deep.ok).toBe(true);
    expect(report.backups[0].deep.tables.every((t: { checksumMatches: boolean }) => t.checksumMatches)).toBe(true);
    expect((await databases(pg)).filter((d) => d.startsWith("holdfast_verify_"))).toEqual([]);

    const r = await runCli(["restore", m.id, "--to", pg.url("app_copy"), "--checksums", "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const restored = JSON.parse(r.stdout);
    expect(restored.check.ok).toBe(true);
    expect(restored.check.tables.map((t: { checksumMatches: boolean }) => t.checksumMatches)).toEqual([true, true, true, true, true]);
    expect(await tableNames(pg, "app_copy")).toEqual(TABLES);
    await sameContent("app", "app_copy");

    const again = await runCli(["restore", m.id, "--to", pg.url("app_copy")], { env: ws.env });
    expect(again.code).toBe(18);
    expect(errorLine(again)).toMatch(/database "app_copy" already exists/);

    // --clean restores over the existing database (objects dropped first); --role passes through.
    await pg.query("DELETE FROM orders WHERE id > 10; CREATE TABLE extra (x int)", "app_copy");
    const clean = await runCli(["restore", m.id, "--to", pg.url("app_copy"), "--clean", "--role", pg.superuser, "--json"], { env: ws.env });
    expect(clean.code, clean.stderr).toBe(0);
    expect(JSON.parse(clean.stdout).check.ok).toBe(true);
    await sameContent("app", "app_copy");
    expect(await tableNames(pg, "app_copy")).toEqual([...TABLES, "public.extra"].sort());
  });

  it("verify --deep reports a checksum that does not match the restored content", async () => {
    const m = await backupJson([pg.url("app"), "--table", "audit_log"]);
    const path = join(ws.repo, "backups", m.id, "manifest.json");
    const manifest = JSON.parse(await readFile(path, "utf8"));
    manifest.tables[0].checksum = "h64sum:12345";
    manifest.tables[0].rows = 49;
    await writeFile(path, JSON.stringify(sealed(manifest)));
    const v = await runCli(["verify", m.id, "--deep"], { env: ws.env });
    expect(v.code).toBe(16);
    expect(errorLine(v)).toContain("table public.audit_log has 50 rows, expected 49");
    expect(errorLine(v)).toContain("table public.audit_log content checksum differs");
  });

  it("picks the record hash only for exactly hashing columns; a check uses the method the manifest names", async () => {
    await pg.query(`CREATE DATABASE hashes`);
    await pg.query(`CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
      CREATE DOMAIN positive AS int CHECK (VALUE > 0);
      CREATE TABLE exact (id bigint, code char(3), name varchar(20), at timestamp, d date, u uuid, b bytea, ok bool, o oid, s smallint);
      CREATE TABLE caseless (id int, name text COLLATE ci);
      CREATE TABLE domained (id positive);
      CREATE TABLE spans (id int, during interval);
      CREATE TABLE floats (id int, x float8);
      INSERT INTO exact SELECT i, 'c' || (i % 10), 'n' || i, '2024-01-01'::timestamp + i * interval '1 min', '2024-01-01'::date + i, gen_random_uuid(), '\\x00ff'::bytea, i % 2 = 0, i, i FROM generate_series(1, 500) i;
      INSERT INTO caseless SELECT i, 'Name ' || i FROM generate_series(1, 50) i;
      INSERT INTO domained SELECT i FROM generate_series(1, 50) i;
      INSERT INTO spans SELECT i, i * interval '1 hour' FROM generate_series(1, 50) i;
      INSERT INTO floats SELECT i, i / 3.0 FROM generate_series(1, 50) i;`, "hashes");
    const m = await backupJson([pg.url("hashes")]);
    const methods = Object.fromEntries(m.tables.map((t: { name: string; checksum: string }) => [t.name, t.checksum.split(":")[0]]));
    expect(methods).toEqual({ "public.caseless": "h64sum", "public.domained": "h64sum", "public.exact": "rh64sum", "public.floats": "h64sum", "public.spans": "h64sum" });
    const v = await runCli(["verify", m.id, "--deep", "--json"], { env: ws.env });
    expect(v.code, v.stderr).toBe(0);

    // One changed character in one row changes the record hash.
    await pg.query("UPDATE exact SET name = 'N1' WHERE id = 1", "hashes");
    const changed = await backupJson([pg.url("hashes"), "--table", "exact"]);
    const before = m.tables.find((t: { name: string }) => t.name === "public.exact").checksum;
    expect(changed.tables[0].checksum).not.toBe(before);
    // A manifest whose record checksum is another content's is caught by verify --deep.
    const path = join(ws.repo, "backups", changed.id, "manifest.json");
    const forged = JSON.parse(await readFile(path, "utf8"));
    forged.tables[0].checksum = before;
    await writeFile(path, JSON.stringify(sealed(forged)));
    const bad = await runCli(["verify", changed.id, "--deep"], { env: ws.env });
    expect(bad.code).toBe(16);
    expect(errorLine(bad)).toContain("table public.exact content checksum differs");

    // A backup made before the record hash existed (text method for every table) still verifies:
    // its checksum, computed here the old way, is checked the old way.
    const [old] = await pg.query<{ h: string }>(`SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex';
      SELECT coalesce(sum(pg_catalog.hashtextextended(r::text, 0)), 0)::text AS h FROM ONLY public.exact r`, "hashes");
    forged.tables[0].checksum = `h64sum:${old!.h}`;
    await writeFile(path, JSON.stringify(sealed(forged)));
    const legacy = await runCli(["verify", changed.id, "--deep", "--json"], { env: ws.env });
    expect(legacy.code, legacy.stdout + legacy.stderr).toBe(0);
    expect(JSON.parse(legacy.stdout).backups[0].deep.tables[0].checksumMatches).toBe(true);
  });

  it("dumps in directory format with --jobs 2 and restores with --jobs 2", async () => {
    const m = await backupJson([pg.url("app"), "--format", "directory", "--jobs", "2"]);
    expect(m.details.dumpFormat).toBe("directory");
    const names = m.files.map((f: { name: string }) => f.name);
    expect(names[0]).toBe("dir-toc.dat");
    expect(names.length).toBeGreaterThanOrEqual(6); // toc + one data file per table
    const r = await runCli(["restore", m.id, "--to", pg.url("app_dir"), "--jobs", "2"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    await sameContent("app", "app_dir");
    const v = await runCli(["verify", m.id, "--deep"], { env: ws.env });
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  it("restores a custom dump with --jobs 2 and passes --no-owner through", async () => {
    const m = await backupJson([pg.url("app")]);
    const r = await runCli(["restore", m.id, "--to", pg.url("app_jobs"), "--jobs", "2", "--no-owner"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    await sameContent("app", "app_jobs");
  });

  it("honours --table, --exclude-table and --schema-only", async () => {
    const only = await backupJson([pg.url("app"), "--table", "customers", "--table", "billing.*"]);
    expect(only.tables.map((t: { name: string }) => t.name)).toEqual(["billing.invoices", "public.customers"]);
    let r = await runCli(["restore", only.id, "--to", pg.url("app_only")], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(await tableNames(pg, "app_only")).toEqual(["billing.invoices", "public.customers"]);

    const excl = await backupJson([pg.url("app"), "--exclude-table", "orders", "--exclude-table", "audit_log"]);
    expect(excl.tables.map((t: { name: string }) => t.name)).toEqual(["billing.invoices", "public.alembic_version", "public.customers"]);
    r = await runCli(["restore", excl.id, "--to", pg.url("app_excl")], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(await tableNames(pg, "app_excl")).toEqual(["billing.invoices", "public.alembic_version", "public.customers"]);

    const schema = await backupJson([pg.url("app"), "--schema-only"]);
    expect(schema.tables.every((t: { rows: number; checksum?: string }) => t.rows === 0 && t.checksum === undefined)).toBe(true);
    r = await runCli(["restore", schema.id, "--to", pg.url("app_schema")], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(await tableNames(pg, "app_schema")).toEqual(TABLES);
    expect(await pg.query("SELECT count(*)::int AS n FROM customers", "app_schema")).toEqual([{ n: 0 }]);

    const bad = await runCli(["backup", pg.url("app"), "--schema-only", "--data-only"], { env: ws.env });
    expect(bad.code).toBe(2);
    expect(errorLine(bad)).toMatch(/exclude each other/);
  });
});

describe("postgres in-place restore", () => {
  it("takes a labelled safety backup, swaps by rename and keeps the database name", async () => {
    await seedApp(pg, "live", 500);
    const before = await backupJson([pg.url("live")]);
    await pg.query("DELETE FROM orders WHERE id % 2 = 0; UPDATE customers SET name = 'changed'", "live");
    const changed = await fingerprint(pg, "live", "public.orders");
    const oldOid = (await pg.query<{ oid: number }>("SELECT oid FROM pg_database WHERE datname = 'live'"))[0]!.oid;

    const r = await runCli(["restore", before.id, "--in-place", "--to", pg.url("live"), "--terminate-timeout", "2", "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.safetyCopy).toMatch(/^backup \d{8}T\d{6}Z/);
    const safetyId = result.safetyCopy.slice("backup ".length);
    const newOid = (await pg.query<{ oid: number }>("SELECT oid FROM pg_database WHERE datname = 'live'"))[0]!.oid;
    expect(newOid).not.toBe(oldOid);
    expect(await pg.query("SELECT count(*)::int AS n FROM orders", "live")).toEqual([{ n: 1000 }]);
    expect(await pg.query("SELECT count(*)::int AS n FROM customers WHERE name = 'changed'", "live")).toEqual([{ n: 0 }]);
    expect((await databases(pg)).filter((d) => d.includes("_hf_"))).toEqual([]);

    const safety = JSON.parse((await runCli(["show", safetyId, "--json"], { env: ws.env })).stdout);
    expect(safety.labels["holdfast.safety"]).toBe("pre-restore");
    expect(safety.labels["holdfast.restoring"]).toBe(before.id);
    const back = await runCli(["restore", safetyId, "--to", pg.url("live_safety")], { env: ws.env });
    expect(back.code, back.stderr).toBe(0);
    expect(await fingerprint(pg, "live_safety", "public.orders")).toBe(changed);
  });

  it("waits for open connections, then terminates them before the swap", async () => {
    const m = await backupJson([pg.url("live")]);
    const pgmod = await import("pg");
    const idle = new pgmod.default.Client({ connectionString: pg.url("live") });
    idle.on("error", () => undefined);
    await idle.connect();
    const started = Date.now();
    const r = await runCli(["restore", m.id, "--in-place", "--to", pg.url("live"), "--terminate-timeout", "1"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThan(1000);
    await expect(idle.query("SELECT 1")).rejects.toThrow();
    await idle.end().catch(() => undefined);
  });

  it("leaves the original database untouched and named the same when the restore fails", async () => {
    const m = await backupJson([pg.url("live")]);
    await pg.query("INSERT INTO audit_log VALUES (now(), 'after the backup')", "live");
    const original = await fingerprint(pg, "live", "public.audit_log");
    // Corrupt the stored dump: the verified stream fails part-way through pg_restore.
    const file = join(ws.repo, m.files[0].key);
    await flipByte(file, Math.floor((await stat(file)).size / 2));

    const r = await runCli(["restore", m.id, "--in-place", "--to", pg.url("live")], { env: ws.env });
    expect(r.code).not.toBe(0);
    expect(errorLine(r)).toMatch(/was left as it was|original was kept/);
    expect(await fingerprint(pg, "live", "public.audit_log")).toBe(original);
    expect((await databases(pg)).filter((d) => d.includes("_hf_"))).toEqual([]);
    expect(await pg.query("SELECT datallowconn FROM pg_database WHERE datname = 'live'")).toEqual([{ datallowconn: true }]);
  });
});
