import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type RunResult } from "../support/cli.js";
import { startMoto, type MotoServer } from "../support/moto.js";
import { alignToSecond } from "../support/clock.js";
import { startS3, type S3Server } from "../support/s3.js";

/**
 * Ids never collide: 4 sources × 3 rounds, each round's 4 backups started at the same instant
 * (aligned to the start of a second, so they land in the same second), into one repository on a
 * local folder (O_EXCL), moto's S3 (If-None-Match conditional writes) and s3rver (which ignores
 * the condition: claims). Every backup must be listed, verify, and restore to its own source's data.
 */
const SOURCES = 4;
const ROUNDS = 3;

let dir: string;
let s3rver: S3Server;
let moto: MotoServer;

function makeSource(path: string, name: string, rows: number): void {
  const db = new Database(path);
  db.exec("CREATE TABLE marker (name TEXT NOT NULL); CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)");
  db.prepare("INSERT INTO marker VALUES (?)").run(name);
  const insert = db.prepare("INSERT INTO items (v) VALUES (?)");
  for (let i = 0; i < rows; i++) insert.run(`${name}-${i}`);
  db.close();
}

function markerOf(path: string): { name: string; rows: number } {
  const db = new Database(path, { readonly: true });
  try {
    const name = (db.prepare("SELECT name FROM marker").get() as { name: string }).name;
    const rows = (db.prepare("SELECT count(*) AS n FROM items").get() as { n: number }).n;
    return { name, rows };
  } finally {
    db.close();
  }
}

async function scenario(label: string, repo: string, env: Record<string, string>): Promise<void> {
  const work = await mkdtemp(join(dir, `${label}-`));
  const passFile = join(work, "pass.txt");
  await writeFile(passFile, "correct horse battery staple\n", { mode: 0o600 });
  const base = { ...env, HOLDFAST_REPO: repo, HOLDFAST_PASSPHRASE_FILE: passFile, HOLDFAST_TMPDIR: work };
  const init = await runCli(["repo", "init", repo, "--scrypt-work-factor", "10"], { env: base });
  expect(init.code, init.stderr).toBe(0);
  const sources = Array.from({ length: SOURCES }, (_, i) => ({ name: `src${i}`, path: join(work, `src${i}.db`), rows: 50 + i * 7 }));
  for (const s of sources) makeSource(s.path, s.name, s.rows);

  const reported: { id: string; source: string }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await alignToSecond();
    const results: RunResult[] = await Promise.all(sources.map((s) => runCli(["backup", `sqlite:${s.path}`, "--json"], { env: base })));
    for (const [i, r] of results.entries()) {
      expect(r.code, `${label} round ${round} source ${i}: ${r.stderr}`).toBe(0);
      const m = JSON.parse(r.stdout) as { id: string; source: { uri: string } };
      expect(m.source.uri).toBe(`sqlite:${sources[i]!.path}`);
      reported.push({ id: m.id, source: m.source.uri });
    }
  }
  // Every reported id is distinct, and the same second was really shared (-2, -3… suffixes).
  expect(new Set(reported.map((r) => r.id)).size).toBe(SOURCES * ROUNDS);
  expect(reported.some((r) => /-\d+$/.test(r.id)), `no two backups landed in the same second: ${reported.map((r) => r.id).join(" ")}`).toBe(true);

  const list = await runCli(["list", "--json"], { env: base });
  expect(list.code, list.stderr).toBe(0);
  const listed = JSON.parse(list.stdout) as { backups: { id: string; source: { uri: string } }[]; incomplete: unknown[] };
  expect(listed.backups.map((b) => b.id).sort()).toEqual(reported.map((r) => r.id).sort());
  expect(listed.incomplete).toEqual([]);
  for (const r of reported) expect(listed.backups.find((b) => b.id === r.id)!.source.uri).toBe(r.source);

  const verify = await runCli(["verify", "--all", "--json"], { env: base });
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  expect((JSON.parse(verify.stdout) as { backups: unknown[] }).backups).toHaveLength(SOURCES * ROUNDS);

  // Each backup restores to its own source's data.
  for (let i = 0; i < reported.length; i += 6) {
    await Promise.all(
      reported.slice(i, i + 6).map(async (r) => {
        const to = join(work, `restored-${r.id}.db`);
        const res = await runCli(["restore", r.id, "--to", to], { env: base });
        expect(res.code, res.stderr).toBe(0);
        const source = sources.find((s) => `sqlite:${s.path}` === r.source)!;
        expect(markerOf(to)).toEqual({ name: source.name, rows: source.rows });
        expect(res.stdout).toContain(`restored backup ${r.id} (full) of ${r.source} to ${to}`);
      }),
    );
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "holdfast-ids-"));
  [s3rver, moto] = await Promise.all([startS3(["ids"]), startMoto(["ids"])]);
}, 120_000);
afterAll(async () => {
  await s3rver?.stop();
  await moto?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("backup ids never collide (4 sources × 3 rounds at the same instant)", () => {
  it("on a local folder (exclusive create)", async () => {
    await scenario("local", join(dir, "repo"), {});
    // The reservations were created exclusively: one reservation.json per backup, no claims.
    const one = JSON.parse(await readFile(join(dir, "repo", "backups", (await firstId(join(dir, "repo"))), "reservation.json"), "utf8"));
    expect(one).toMatchObject({ formatVersion: 1, engine: "sqlite", kind: "full" });
  }, 180_000);

  it("on S3 with conditional writes (moto: If-None-Match)", async () => {
    await scenario("moto", "s3://ids/repo", moto.env);
  }, 180_000);

  it("on S3 without conditional writes (s3rver: claims)", async () => {
    await scenario("s3rver", "s3://ids/repo", s3rver.env);
  }, 180_000);
});

async function firstId(repo: string): Promise<string> {
  const { readdir } = await import("node:fs/promises");
  return (await readdir(join(repo, "backups"))).sort()[0]!;
}
