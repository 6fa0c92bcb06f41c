import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startCli, workspace, type Workspace } from "../support/cli.js";
import { openExportFile } from "../../dist/transfer/reader.js";
import { openRepository } from "../../dist/commands/open-repository.js";

/**
 * The portable file (--out) is written from table streams compressed while they are read: its
 * zstd frames must still decompress to exactly one tar that `age -d | zstd -d | tar -x` opens.
 */
let ws: Workspace;
let dbPath: string;
const LONG = `t_${"long_name_".repeat(11)}end`; // > 100 characters: the tar needs a pax header
const ROWS = 30_000;

beforeAll(async () => {
  ws = await workspace();
  dbPath = join(ws.dir, "app.db");
  const db = new Database(dbPath);
  db.exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT, at DATETIME);
           CREATE TABLE empty_one (id INTEGER PRIMARY KEY, v TEXT);
           CREATE TABLE ${LONG} (id INTEGER PRIMARY KEY, v BLOB);`);
  const add = db.prepare("INSERT INTO events VALUES (?, ?, ?, ?)");
  db.transaction(() => {
    for (let i = 1; i <= ROWS; i++) add.run(i, ["new", "paid", "shipped"][i % 3], i % 7 ? `${createHash("md5").update(String(i)).digest("hex")} é ✓\t"${i}"` : null, 1_700_000_000_000 + i);
  })();
  db.prepare(`INSERT INTO ${LONG} VALUES (1, x'00ff10'), (2, NULL)`).run();
  db.close();
});
afterAll(async () => {
  await ws?.cleanup();
});

const PASSPHRASE = "correct horse battery staple";

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

describe("the portable export file", () => {
  it("decompresses to one tar (pax name, empty stream) with the recorded hashes, zstd even where the repository uses gzip, and reads back", async () => {
    const file = join(ws.dir, "app.export");
    const r = await runCli(["export", `sqlite:${dbPath}`, "--out", file, "--json"], { env: { ...ws.env, HOLDFAST_COMPRESSION: "gzip" } });
    expect(r.code, r.stderr).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const identity = join(ws.dir, "identity.txt");
    expect((await runCli(["key", "export", "--out", identity], { env: ws.env })).code).toBe(0);

    const zst = join(ws.dir, "app.tar.zst");
    execFileSync("age", ["-d", "-i", identity, "-o", zst, file]);
    // Header frames around each table's own frames: more frames than entries, one stream for zstd.
    const frames = /# Zstandard Frames: *(\d+)/.exec(execFileSync("zstd", ["-lv", zst], { stdio: ["ignore", "pipe", "ignore"] }).toString());
    expect(Number(frames?.[1])).toBeGreaterThanOrEqual(7);
    const tarBytes = execFileSync("zstd", ["-dc", zst], { maxBuffer: 1 << 28 });
    const names = execFileSync("tar", ["-t"], { input: tarBytes }).toString().trim().split("\n");
    const out = join(ws.dir, "opened");
    await mkdir(out);
    execFileSync("tar", ["-x", "-C", out], { input: tarBytes });

    const manifest = JSON.parse(await readFile(join(out, "export.json"), "utf8")) as { tables: { name: string; stream: string; rows: number; bytes: number; sha256: string }[]; schema: { sha256: string } };
    expect(names).toEqual(["export.json", "schema.json", ...manifest.tables.map((t) => t.stream)]);
    expect(manifest.tables.map((t) => [t.name, t.rows])).toEqual([["empty_one", 0], ["events", ROWS], [LONG, 2]]);
    expect(manifest.tables.find((t) => t.name === LONG)!.stream.length).toBeGreaterThan(100);
    expect(sha256(await readFile(join(out, "schema.json")))).toBe(manifest.schema.sha256);
    for (const t of manifest.tables) {
      const body = await readFile(join(out, t.stream));
      expect([body.length, sha256(body)]).toEqual([t.bytes, t.sha256]);
    }
    expect((await readdir(join(out, "tables"))).length).toBe(3);

    const { keys } = await openRepository({ repo: ws.repo, passphrase: PASSPHRASE }, "required");
    const reader = await openExportFile(file, { keys });
    const back: Record<string, unknown[][]> = {};
    try {
      for await (const t of reader.tables()) {
        back[t.entry.name] = [];
        for await (const row of t.rows()) back[t.entry.name]!.push(row);
      }
    } finally {
      await reader.close();
    }
    expect(back.empty_one).toEqual([]);
    expect(back[LONG]).toEqual([[1n, Buffer.from([0, 255, 16])], [2n, null]]);
    expect(back.events!.length).toBe(ROWS);
    expect(back.events![6]).toEqual([7n, "paid", null, 1_700_000_000_007n]);
    expect(back.events![0]).toEqual([1n, "paid", `${createHash("md5").update("1").digest("hex")} é ✓\t"1"`, 1_700_000_000_001n]);
  });

  it("kill -9 while the tables are read leaves nothing under the file's name", async () => {
    const file = join(ws.dir, "killed.export");
    const tmp = join(ws.dir, "tmp-killed");
    await mkdir(tmp, { mode: 0o700 });
    const child = startCli(["export", `sqlite:${dbPath}`, "--out", file, "--encryption", "none"], { env: { ...ws.env, HOLDFAST_TMPDIR: tmp } });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    // Killed as soon as it has begun spooling a table.
    for (let i = 0; i < 400 && (await readdir(tmp)).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect((await readdir(tmp)).length).toBe(1);
    child.kill("SIGKILL");
    await exited;
    expect((await readdir(ws.dir)).filter((f) => f.startsWith("killed.export"))).toEqual([]);
  });
});
