import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { EXIT_CODES } from "../../src/errors.js";
import { sealed } from "../../src/repository/json-object.js";
import { errorLine, runCli, startCli, workspace, type Workspace } from "../support/cli.js";
import { flipByte } from "../support/damage.js";
import { createDatabase } from "../support/sqlite.js";

/**
 * `holdfast drill` on real SQLite backups: a good backup passes every layer and is recorded in the
 * repository (JSON + a self-contained page); a damaged stored file and a manifest whose row counts
 * differ fail with the reason; a scratch folder that is not empty is refused; a drill killed
 * mid-way leaves a folder the next drill removes.
 */
let ws: Workspace;
let db: string;
let backupId: string;

const drill = (args: string[]) => runCli(["drill", `sqlite:${db}`, "--json", ...args], { env: ws.env });
const drillFolders = async () => (await readdir(ws.dir)).filter((n) => n.startsWith("holdfast-drill-"));

async function manifestOf(id: string): Promise<Record<string, unknown> & { files: { key: string }[]; tables: { name: string; rows: number }[] }> {
  return JSON.parse(await readFile(join(ws.repo, "backups", id, "manifest.json"), "utf8"));
}

async function freshBackup(): Promise<string> {
  const r = await runCli(["backup", `sqlite:${db}`, "--json"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).id as string;
}

beforeAll(async () => {
  ws = await workspace();
  db = join(ws.dir, "app.db");
  createDatabase(db, 3000);
  backupId = await freshBackup();
});
afterAll(async () => ws?.cleanup());

describe("holdfast drill (SQLite)", () => {
  it("passes on a good backup: every layer checked, RTO per phase, RPO, a stored record and page, listed by `drills`", async () => {
    const smoke = join(ws.dir, "smoke.sql");
    await writeFile(smoke, "-- the restored data answers\nSELECT count(*) = 3000 FROM items;\nSELECT count(*) > 0 FROM tags;\n");
    const r = await drill(["--checks", smoke, "--rto", "5m", "--rpo", "1h", "--report-out", join(ws.dir, "report.html")]);
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.verdict).toBe("PASS");
    expect(rec.backupId).toBe(backupId);
    expect(rec.phases.map((p: { name: string }) => p.name)).toEqual(["fetch", "decode", "restore", "checks"]);
    expect(rec.rtoMs).toBe(rec.phases.reduce((s: number, p: { ms: number }) => s + p.ms, 0));
    expect(rec.rpo.newestData).toBe((await manifestOf(backupId)).startedAt);
    expect(rec.rpo.ms).toBeGreaterThan(0);
    const byLayer = (layer: string) => rec.checks.filter((c: { layer: string }) => c.layer === layer);
    expect(byLayer("engine")[0]).toMatchObject({ name: "write probe", status: "pass" });
    expect(byLayer("tables").map((c: { name: string; status: string; detail: string }) => [c.name, c.status, c.detail])).toEqual([
      ["items", "pass", "3000 rows, manifest 3000"],
      ["tags", "pass", "300 rows, manifest 300"],
    ]);
    expect(byLayer("smoke").map((c: { status: string }) => c.status)).toEqual(["pass", "pass"]);
    expect(byLayer("objectives").map((c: { status: string }) => c.status)).toEqual(["pass", "pass"]);
    expect(rec.ranBy.host).toBeTruthy();

    const html = await readFile(join(ws.repo, "drills", `${rec.id}.html`), "utf8");
    expect(html).toBe(await readFile(join(ws.dir, "report.html"), "utf8"));
    expect(html).toContain(">PASS<");
    expect(html).toContain('class="bar"');
    expect(html).not.toMatch(/<script|<link|src=|url\(|https?:\/\//);
    const stored = JSON.parse(await readFile(join(ws.repo, "drills", `${rec.id}.json`), "utf8"));
    expect(stored.integrity).toMatch(/^[0-9a-f]{64}$/);
    // Nothing is left: no scratch folder, no staging.
    expect(await drillFolders()).toEqual([]);

    const list = await runCli(["drills", "--json"], { env: ws.env });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).drills[0]).toMatchObject({ id: rec.id, verdict: "PASS", backupId });
  });

  it("fails, with the reason, when an objective is missed", async () => {
    const r = await drill(["--rpo", "1ms"]);
    expect(r.code).toBe(EXIT_CODES.DRILL_FAILED);
    expect(JSON.parse(r.stdout).reasons).toEqual([expect.stringMatching(/^objectives RPO: .* target 1 ms$/)]);
  });

  it("fails on a manifest whose row counts differ (re-sealed, so only the rows are wrong)", async () => {
    const id = await freshBackup();
    const path = join(ws.repo, "backups", id, "manifest.json");
    const m = await manifestOf(id);
    m.tables = m.tables.map((t) => (t.name === "tags" ? { ...t, rows: t.rows + 7 } : t));
    await writeFile(path, JSON.stringify(sealed(m), null, 2) + "\n");
    const r = await drill([]);
    expect(r.code, r.stderr).toBe(EXIT_CODES.DRILL_FAILED);
    expect(errorLine(r)).toMatch(/FAILED: tables tags: 300 rows, manifest 307/);
    const rec = JSON.parse(r.stdout);
    expect(rec.backupId).toBe(id);
    expect(rec.checks.find((c: { name: string }) => c.name === "items").status).toBe("pass");
  });

  it("fails on a damaged stored file, naming it, and records the failure", async () => {
    const id = await freshBackup();
    const key = (await manifestOf(id)).files[0]!.key;
    await flipByte(join(ws.repo, key), 40);
    const r = await drill([]);
    expect(r.code, r.stderr).toBe(EXIT_CODES.DRILL_FAILED);
    const rec = JSON.parse(r.stdout);
    expect(rec.reasons[0]).toBe(`restore fetch phase: stored file ${ws.repo}/${key} is damaged: its SHA-256 differs from the manifest's`);
    expect(rec.phases.map((p: { name: string }) => p.name)).toEqual(["fetch"]);
    expect(rec.rtoMs).toBeUndefined();
    const list = JSON.parse((await runCli(["drills", "--json"], { env: ws.env })).stdout);
    expect(list.drills[0]).toMatchObject({ id: rec.id, verdict: "FAIL" });
    expect(await drillFolders()).toEqual([]);
  });

  it("refuses a scratch folder that is not empty and not a drill's, leaving it untouched", async () => {
    const folder = join(ws.dir, "busy");
    await mkdir(folder);
    await writeFile(join(folder, "keep.txt"), "mine");
    const r = await drill(["--scratch", folder]);
    expect(r.code).toBe(EXIT_CODES.TARGET_EXISTS);
    expect(errorLine(r)).toMatch(/scratch folder .*busy refused: it is not empty and holds no drill's marker/);
    expect(await readdir(folder)).toEqual(["keep.txt"]);
  });

  it("a drill killed mid-way leaves its folder behind; the next drill removes it", async () => {
    // A larger database so the drill is caught while it works.
    const big = join(ws.dir, "big.db");
    createDatabase(big, 120_000);
    const b = await runCli(["backup", `sqlite:${big}`], { env: ws.env });
    expect(b.code, b.stderr).toBe(0);
    const child = startCli(["drill", `sqlite:${big}`], { env: ws.env });
    child.stdin!.end();
    const deadline = Date.now() + 20_000;
    const marked = async () => (await drillFolders()).some((n) => existsSync(join(ws.dir, n, ".holdfast-drill.json")));
    while (!(await marked()) && Date.now() < deadline) await sleep(5);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    const left = await drillFolders();
    expect(left.length).toBeGreaterThan(0);
    expect(existsSync(join(ws.dir, left[0]!, ".holdfast-drill.json"))).toBe(true);

    const next = await runCli(["drill", `sqlite:${big}`, "--json"], { env: ws.env });
    expect(next.code, next.stderr).toBe(0);
    expect(await drillFolders()).toEqual([]);
    expect((await readdir(ws.dir)).filter((n) => n.startsWith("holdfast-drill-stage-"))).toEqual([]);
  });
});
