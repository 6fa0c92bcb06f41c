import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { countRows, createDatabase, dumpTable, integrity } from "../support/sqlite.js";
import { sealed } from "../../src/repository/json-object.js";

let ws: Workspace;
let db: string;

beforeAll(async () => {
  ws = await workspace();
  db = join(ws.dir, "app.db");
  createDatabase(db, 2000);
});
afterAll(() => ws.cleanup());

async function modesUnder(dir: string): Promise<{ path: string; mode: number; isDir: boolean }[]> {
  const out: { path: string; mode: number; isDir: boolean }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    const s = await stat(full);
    out.push({ path: full, mode: s.mode & 0o777, isDir: entry.isDirectory() });
    if (entry.isDirectory()) out.push(...(await modesUnder(full)));
  }
  return out;
}

describe("sqlite backup → list → show → verify → restore", () => {
  it("backs up, lists, shows, verifies deeply and restores an identical database", async () => {
    const b = await runCli(["backup", `sqlite:${db}`, "--label", "env=test", "--json"], { env: ws.env });
    expect(b.code, b.stderr).toBe(0);
    const manifest = JSON.parse(b.stdout);
    expect(manifest.id).toMatch(/^\d{8}T\d{6}Z(-\d+)?$/);
    expect(manifest.engine).toBe("sqlite");
    expect(manifest.labels).toEqual({ env: "test" });
    expect(manifest.tables).toEqual([
      { name: "items", rows: 2000 },
      { name: "tags", rows: 200 },
    ]);
    expect(manifest.details.integrityCheck).toBe("ok");
    expect(manifest.details.pageSize).toBe(4096);
    expect(manifest.source.version).toMatch(/^3\.\d+\.\d+$/);
    const [file] = manifest.files;
    expect(file.key).toBe(`backups/${manifest.id}/database.sqlite.zst.age`);
    expect(file.contentSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(file.storedBytes).toBeGreaterThan(0);
    expect(file.encryption).toBe("age");
    expect(file.compression).toEqual({ algorithm: "zstd", level: 3 });
    expect(manifest.holdfast.version).toBeTruthy();
    expect(manifest.host.hostname).toBeTruthy();

    const list = await runCli(["list", "--json"], { env: ws.env });
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).backups.map((m: { id: string }) => m.id)).toContain(manifest.id);
    const table = await runCli(["list"], { env: ws.env });
    expect(table.stdout).toContain(manifest.id);
    expect(table.stdout).toMatch(/ID\s+KIND\s+ENGINE\s+SOURCE/);

    const show = await runCli(["show", "latest"], { env: ws.env });
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`backup      ${manifest.id}`);
    expect(show.stdout).toContain(file.contentSha256);
    expect(show.stdout).toMatch(/items\s+2000 rows/);

    const v = await runCli(["verify", manifest.id, "--deep"], { env: ws.env });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain("deep check: ok (integrity_check ok)");
    expect(v.stdout).toMatch(/items\s+expected 2000 rows, found 2000/);

    const target = join(ws.dir, "restored.db");
    const r = await runCli(["restore", "latest", "--to", target], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(integrity(target)).toBe("ok");
    expect(dumpTable(target, "items")).toEqual(dumpTable(db, "items"));
    expect((await stat(target)).mode & 0o777).toBe(0o600);
  });

  it("keeps every repository file 0600 and every folder 0700", async () => {
    const entries = await modesUnder(ws.repo);
    expect(entries.length).toBeGreaterThan(3);
    for (const e of entries) expect({ path: e.path, mode: e.mode.toString(8) }).toEqual({ path: e.path, mode: e.isDir ? "700" : "600" });
    expect((await stat(ws.repo)).mode & 0o777).toBe(0o700);
  });

  it.each([
    ["gzip", "1", ".gz.age"],
    ["gzip", "9", ".gz.age"],
    ["zstd", "19", ".zst.age"],
    ["none", undefined, ".age"],
  ])("round-trips with --compression %s level %s", async (algorithm, level, suffix) => {
    const args = ["backup", `sqlite:${db}`, "--compression", algorithm, "--json"];
    if (level) args.push("--level", level);
    const b = await runCli(args, { env: ws.env });
    expect(b.code, b.stderr).toBe(0);
    const m = JSON.parse(b.stdout);
    expect(m.files[0].key.endsWith(`database.sqlite${suffix}`)).toBe(true);
    expect(m.files[0].compression.algorithm).toBe(algorithm);
    const target = join(ws.dir, `restored-${algorithm}-${level}.db`);
    const r = await runCli(["restore", m.id, "--to", target], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(countRows(target, "items")).toBe(2000);
  });

  it("refuses to overwrite an existing file without --in-place", async () => {
    const target = join(ws.dir, "exists.db");
    await writeFile(target, "precious");
    const r = await runCli(["restore", "latest", "--to", target], { env: ws.env });
    expect(r.code).toBe(18);
    expect(r.stderr).toContain(`${target} already exists`);
  });

  it("restores in place with a safety copy of the live database", async () => {
    const live = join(ws.dir, "live.db");
    createDatabase(live, 100);
    const b = await runCli(["backup", `sqlite:${live}`, "--json"], { env: ws.env });
    expect(b.code, b.stderr).toBe(0);
    const id = JSON.parse(b.stdout).id;
    const conn = new Database(live);
    conn.exec("DELETE FROM tags; DELETE FROM items WHERE id > 10; INSERT INTO items (body, n) VALUES ('after backup', -1)");
    conn.close();
    const r = await runCli(["restore", id, "--in-place", "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(countRows(live, "items")).toBe(100);
    expect(countRows(live, "tags")).toBe(10);
    expect(integrity(live)).toBe("ok");
    // The safety copy holds the database as it was just before the restore.
    expect(countRows(result.safetyCopy, "items")).toBe(11);
    expect(countRows(result.safetyCopy, "tags")).toBe(0);
  });

  it("an in-place restore that cannot complete leaves the live database exactly as it was", async () => {
    const dir = join(ws.dir, "blocked");
    await (await import("node:fs/promises")).mkdir(dir);
    const live = join(dir, "live.db");
    createDatabase(live, 50);
    const b = await runCli(["backup", `sqlite:${live}`, "--json"], { env: ws.env });
    const id = JSON.parse(b.stdout).id;
    const conn = new Database(live);
    conn.exec("INSERT INTO items (body, n) VALUES ('newer', 1)");
    conn.close();
    const before = dumpTable(live, "items");
    // A file where the safety folder must go: the restore cannot keep a safety copy, so it must not proceed.
    await writeFile(join(dir, ".holdfast-safety"), "in the way");
    const r = await runCli(["restore", id, "--in-place"], { env: ws.env });
    expect(r.code).toBe(17);
    expect(r.stderr).toContain(`in-place restore of ${live} failed and was rolled back`);
    expect(dumpTable(live, "items")).toEqual(before);
    expect(integrity(live)).toBe("ok");
    expect((await readdir(dir)).filter((n) => n.includes("holdfast-restore"))).toEqual([]);
  });

  it("deep verify names the table whose row count differs from the manifest (exit 16)", async () => {
    const b = await runCli(["backup", `sqlite:${db}`, "--json"], { env: ws.env });
    const m = JSON.parse(b.stdout);
    const manifestPath = join(ws.repo, "backups", m.id, "manifest.json");
    const edited = { ...m, tables: m.tables.map((t: { name: string; rows: number }) => (t.name === "tags" ? { ...t, rows: t.rows + 1 } : t)) };
    await writeFile(manifestPath, JSON.stringify(sealed(edited)));
    const v = await runCli(["verify", m.id, "--deep"], { env: ws.env });
    expect(v.code).toBe(16);
    expect(v.stderr).toContain(`backup ${m.id}: table tags has 200 rows, expected 201`);
    expect(v.stdout).toMatch(/tags\s+expected 201 rows, found 200/);
    const shallow = await runCli(["verify", m.id], { env: ws.env });
    expect(shallow.code).toBe(0);
  });

  it("settings come from holdfast.yaml, and environment variables override it", async () => {
    const configPath = join(ws.dir, "holdfast.yaml");
    await writeFile(configPath, `repo: ${ws.repo}\npassphrase_file: ${ws.passphraseFile}\ncompression:\n  algorithm: gzip\n  level: 2\nlabels:\n  team: ops\n`);
    const fromFile = await runCli(["--config", configPath, "backup", `sqlite:${db}`, "--json"], { env: { HOLDFAST_TMPDIR: ws.dir } });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    const m = JSON.parse(fromFile.stdout);
    expect(m.files[0].compression).toEqual({ algorithm: "gzip", level: 2 });
    expect(m.labels).toEqual({ team: "ops" });
    const overridden = await runCli(["--config", configPath, "backup", `sqlite:${db}`, "--json"], { env: { HOLDFAST_TMPDIR: ws.dir, HOLDFAST_COMPRESSION: "zstd", HOLDFAST_COMPRESSION_LEVEL: "5" } });
    expect(overridden.code, overridden.stderr).toBe(0);
    expect(JSON.parse(overridden.stdout).files[0].compression).toEqual({ algorithm: "zstd", level: 5 });
  });

  it("writes structured JSON log lines without a TTY", async () => {
    const r = await runCli(["backup", `sqlite:${db}`, "--log-format", "json"], { env: ws.env });
    expect(r.code).toBe(0);
    const lines = r.stderr.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["backup started", "backup complete"]));
    expect(r.stderr).not.toContain("correct horse");
  });
});
