import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { runCli, startCli, workspace, type Workspace } from "../support/cli.js";
import { countRows, createDatabase, integrity } from "../support/sqlite.js";

let ws: Workspace;
beforeAll(async () => {
  ws = await workspace();
});
afterAll(() => ws.cleanup());

function startWriter(db: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [resolve(import.meta.dirname, "../support/sqlite-writer.mjs"), db], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((res, rej) => {
    child.stdout!.once("data", () => res(child));
    child.once("exit", (code) => rej(new Error(`writer exited ${code}`)));
  });
}

describe("backups of a database that keeps changing", () => {
  it("is consistent while another process inserts continuously", async () => {
    const db = join(ws.dir, "busy.db");
    createDatabase(db, 20_000);
    const writer = await startWriter(db);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const before = countRows(db, "events");
      const b = await runCli(["backup", `sqlite:${db}`, "--json"], { env: ws.env });
      const after = countRows(db, "events");
      expect(b.code, b.stderr).toBe(0);
      expect(writer.exitCode).toBeNull(); // the application never stopped or failed
      const m = JSON.parse(b.stdout);
      const recorded = m.tables.find((t: { name: string }) => t.name === "events").rows;
      const target = join(ws.dir, "busy-restored.db");
      const r = await runCli(["restore", m.id, "--to", target], { env: ws.env });
      expect(r.code, r.stderr).toBe(0);
      expect(integrity(target)).toBe("ok");
      const restored = countRows(target, "events");
      expect(restored).toBe(recorded);
      expect(restored).toBeGreaterThanOrEqual(before);
      expect(restored).toBeLessThanOrEqual(after);
      expect(after).toBeGreaterThan(before); // the writer really was writing during the backup
    } finally {
      writer.kill("SIGKILL");
    }
  });

  it("survives kill -9 at several moments: nothing half-visible, the next backup works", async () => {
    const db = join(ws.dir, "big.db");
    createDatabase(db, 150_000); // ≈ 35 MB of incompressible rows
    const good = await runCli(["backup", `sqlite:${db}`, "--json"], { env: ws.env });
    expect(good.code, good.stderr).toBe(0);
    const firstId = JSON.parse(good.stdout).id;
    for (const delayMs of [40, 150, 350, 700, 1100]) {
      const child = startCli(["backup", `sqlite:${db}`, "--compression", "zstd", "--level", "9"], { env: ws.env });
      child.stdout!.resume();
      child.stderr!.resume();
      await new Promise((r) => setTimeout(r, delayMs + Math.floor(Math.random() * 60)));
      child.kill("SIGKILL");
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("exit", r));
      const list = await runCli(["list", "--json"], { env: ws.env });
      expect(list.code, list.stderr).toBe(0);
      const { backups } = JSON.parse(list.stdout);
      expect(backups.map((m: { id: string }) => m.id)).toContain(firstId);
      const v = await runCli(["verify", "--all"], { env: ws.env });
      expect(v.code, `${v.stdout}\n${v.stderr}`).toBe(0);
    }
    // No temporary file ever shows up as a backup file; the stale lock is taken over.
    const next = await runCli(["backup", `sqlite:${db}`, "--json"], { env: ws.env });
    expect(next.code, next.stderr).toBe(0);
    const deep = await runCli(["verify", JSON.parse(next.stdout).id, "--deep"], { env: ws.env });
    expect(deep.code, deep.stderr).toBe(0);
    const lockFiles = await readdir(join(ws.repo, "locks")).catch(() => []);
    expect(lockFiles).toEqual([]);
    // Snapshot temporaries of the killed runs were swept by the next run.
    expect((await readdir(ws.dir)).filter((n) => n.startsWith("holdfast-snapshot-"))).toEqual([]);
  });

  it("two backups of one source at once never interleave", async () => {
    const db = join(ws.dir, "twice.db");
    createDatabase(db, 100_000);
    const [a, b] = await Promise.all([
      runCli(["backup", `sqlite:${db}`, "--json", "--lock-wait", "60s"], { env: ws.env }),
      new Promise((r) => setTimeout(r, 100)).then(() => runCli(["backup", `sqlite:${db}`, "--json", "--lock-wait", "60s"], { env: ws.env })),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const ma = JSON.parse(a.stdout);
    const mb = JSON.parse(b.stdout);
    expect(ma.id).not.toBe(mb.id);
    // One waited for the other: their time spans do not overlap.
    const spans = [ma, mb].sort((x, y) => x.startedAt.localeCompare(y.startedAt));
    expect(spans[1].startedAt >= spans[0].finishedAt).toBe(true);
  });
});
