import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { countRows, createDatabase } from "../support/sqlite.js";
import { writeLockClaim } from "../support/locks.js";

/**
 * Selection is per source: in a repository that holds several databases, `latest` never means
 * another database's backup; without --source it refuses and lists the sources. Interrupted
 * backups are reported the same way by list, check and prune.
 */
let ws: Workspace;
let a: string;
let b: string;
const ids: Record<string, string[]> = { a: [], b: [] };

async function backupOf(path: string): Promise<string> {
  const r = await runCli(["backup", `sqlite:${path}`, "--json"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).id as string;
}

beforeAll(async () => {
  ws = await workspace();
  a = join(ws.dir, "a.db");
  b = join(ws.dir, "b.db");
  createDatabase(a, 100);
  createDatabase(b, 250);
  ids.a!.push(await backupOf(a));
  ids.b!.push(await backupOf(b)); // b's is the newest of the repository
}, 60_000);
afterAll(() => ws.cleanup());

describe("latest is per source", () => {
  it("restore/show/verify latest without --source refuse and list the sources", async () => {
    for (const args of [["restore", "latest", "--to", join(ws.dir, "x.db")], ["show", "latest"], ["verify", "latest"]]) {
      const r = await runCli(args, { env: ws.env });
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(errorLine(r)).toBe(`"latest" is ambiguous: the repository holds backups of 2 sources: sqlite:${a} (sqlite), sqlite:${b} (sqlite)`);
      expect(r.stderr).toContain("--source");
    }
  });

  it("--source picks that source's newest backup, and the success line says which, of what, to where", async () => {
    const to = join(ws.dir, "a-copy.db");
    const r = await runCli(["restore", "latest", "--source", a, "--to", to], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`restored backup ${ids.a![0]} (full) of sqlite:${a} to ${to}`);
    expect(countRows(to, "items")).toBe(100);
    const v = await runCli(["verify", "latest", "--source", `sqlite:${b}`, "--json"], { env: ws.env });
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).backups.map((x: { id: string }) => x.id)).toEqual(ids.b);
  });

  it("a configured database name works as --source", async () => {
    const config = join(ws.dir, "holdfast.yaml");
    await writeFile(config, `databases:\n  orders:\n    source: "sqlite:${b}"\n`);
    const r = await runCli(["show", "latest", "--source", "orders", "--config", config, "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).id).toBe(ids.b![0]);
  });

  it("restore latest --in-place restores the target's own source, not the repository's newest backup", async () => {
    createDatabase(join(ws.dir, "scratch-a.db"), 5); // make a's live file differ from its backup
    const { copyFile } = await import("node:fs/promises");
    await copyFile(join(ws.dir, "scratch-a.db"), a);
    expect(countRows(a, "items")).toBe(5);
    const r = await runCli(["restore", "latest", "--in-place", "--to", a], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`restored backup ${ids.a![0]} (full) of sqlite:${a} to ${a}`);
    expect(countRows(a, "items")).toBe(100);
    // The retry a user makes under pressure restores the same backup again.
    const again = await runCli(["restore", "latest", "--in-place", "--to", a], { env: ws.env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`restored backup ${ids.a![0]} (full) of sqlite:${a}`);
  });

  it("an explicit id of another source is refused when --source says otherwise", async () => {
    const r = await runCli(["restore", ids.b![0]!, "--source", a, "--to", join(ws.dir, "y.db")], { env: ws.env });
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe(`backup ${ids.b![0]} is of sqlite:${b}, not of sqlite:${a}`);
  });
});

describe("interrupted backups are reported the same way by list, check and prune", () => {
  it("being written while its source's lock is held; interrupted once it is not; removed by prune after the stated time", async () => {
    const { createHash } = await import("node:crypto");
    const id = "20200101T000000Z";
    const scope = createHash("sha256").update(`sqlite:${a}`).digest("hex").slice(0, 16);
    await mkdir(join(ws.repo, "backups", id), { recursive: true });
    await writeFile(join(ws.repo, "backups", id, "reservation.json"), JSON.stringify({ formatVersion: 1, id, token: "t-1", engine: "sqlite", source: `sqlite:${a}`, kind: "full", lockScope: scope, pid: 1, hostname: "elsewhere", startedAt: "2020-01-01T00:00:00.000Z" }));
    await writeFile(join(ws.repo, "backups", id, "database.sqlite.zst.age"), "partial data");

    const lock = await writeLockClaim(ws.repo, scope, { purpose: `backup of sqlite:${a}` });
    const writing = await runCli(["list"], { env: ws.env });
    expect(writing.stdout).toContain(`IN PROGRESS backup ${id} of sqlite:${a} is being written (backup of sqlite:${a}, pid ${process.pid}`);
    const { rm } = await import("node:fs/promises");
    await rm(lock);

    const list = await runCli(["list", "--json"], { env: ws.env });
    const verdict = JSON.parse(list.stdout).incomplete.find((i: { id: string }) => i.id === id);
    expect(verdict).toMatchObject({ id, state: "interrupted", source: `sqlite:${a}` });
    const removableAfter: string = verdict.removableAfter;
    const sentence = `backup ${id} of sqlite:${a} was interrupted (started 2020-01-01T00:00:00.000Z, last written ${verdict.lastWrittenAt}): it has no manifest and cannot be restored; \`holdfast prune\` removes it from ${removableAfter}`;
    const human = await runCli(["list"], { env: ws.env });
    expect(human.stdout).toContain(`INTERRUPTED ${sentence}`);
    const check = await runCli(["check"], { env: ws.env });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain(`WARNING ${sentence}`);

    const before = new Date(Date.parse(removableAfter) - 60_000).toISOString();
    const kept = await runCli(["prune", "--keep-last", "5"], { env: { ...ws.env, HOLDFAST_NOW: before } });
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain(`incomplete ${id}: kept: ${sentence}`);
    const after = new Date(Date.parse(removableAfter) + 1000).toISOString();
    const removed = await runCli(["prune", "--keep-last", "5"], { env: { ...ws.env, HOLDFAST_NOW: after } });
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`incomplete ${id}: removed: ${sentence}`);
    expect(JSON.parse((await runCli(["list", "--json"], { env: ws.env })).stdout).incomplete).toEqual([]);
  });
});
