import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startCli, workspace, type RunResult, type Workspace } from "../support/cli.js";

/**
 * One engine as the suite sees it: a real source with known content, fresh targets, and a way to
 * read content back for comparison. The suite drives only the built CLI, so a new engine (files:,
 * …) adds a runner with a fixture and nothing else.
 */
export interface EngineFixture {
  /** The manifest's engine name ("sqlite", "postgres", "postgres-physical", "files"). */
  engine: string;
  /** Start what the engine needs (one server per runner) and create the source; `ws` holds the repository. */
  start(ws: Workspace): Promise<void>;
  stop(): Promise<void>;
  /** The source string for `holdfast backup`. */
  source(): string;
  /** Extra `holdfast backup` flags (e.g. --type physical). */
  backupArgs?: string[];
  /** A target for `restore --to` that does not exist yet; `label` keeps them apart. */
  freshTarget(label: string): string;
  /** Flags that let a restore replace an existing target (--in-place, --replace). */
  replaceArgs: string[];
  /** Comparable content of the source or of a target; undefined when the target does not exist. */
  content(target: string): Promise<unknown>;
  /**
   * Change the source after the backup (proves the restore brings back the backup, not the present).
   * Absent for engines whose restore rolls forward to the present (physical: all archived WAL).
   */
  change?(): Promise<void>;
}

async function cli(ws: Workspace, args: string[]): Promise<RunResult> {
  return runCli(args, { env: ws.env });
}

async function ok(ws: Workspace, args: string[]): Promise<string> {
  const r = await cli(ws, args);
  expect(r.code, `${args.join(" ")}: ${r.stderr.slice(-2000)}`).toBe(0);
  return r.stdout;
}

async function listing(ws: Workspace): Promise<{ backups: { id: string }[]; incomplete: unknown[] }> {
  return JSON.parse(await ok(ws, ["list", "--json"])) as { backups: { id: string }[]; incomplete: unknown[] };
}

/** A stored file being written (a local backend's `.tmp-` upload): the snapshot is streaming. */
async function uploading(repo: string): Promise<boolean> {
  const dir = join(repo, "backups");
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    for (const name of await readdir(join(dir, id)).catch(() => [] as string[])) {
      if (name.startsWith(".tmp-")) return true;
    }
  }
  return false;
}

/** Start a backup, stop it with `signal` while its data is being stored, and return its exit code. */
async function interruptedBackup(ws: Workspace, fixture: EngineFixture, signal: NodeJS.Signals): Promise<number> {
  // The slowest compression keeps the upload going long enough to be caught midway.
  const child = startCli(["backup", ...(fixture.backupArgs ?? []), fixture.source(), "--level", "19"], { env: ws.env });
  let stderr = "";
  child.stdout!.resume();
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number>((r) => child.on("close", (c, s) => r(c ?? (s ? 128 : 1))));
  const deadline = Date.now() + 60_000;
  while (!(await uploading(ws.repo))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the backup ${child.exitCode === null ? "stored nothing for 60 s" : "ended before it could be interrupted"}: ${stderr.slice(-1000)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill(signal);
  return closed;
}

/** Flip bytes in the middle of a backup's first stored file. */
async function corrupt(ws: Workspace, id: string): Promise<void> {
  const manifest = JSON.parse(await ok(ws, ["show", id, "--json"])) as { files: { key: string }[] };
  const path = join(ws.repo, manifest.files[0]!.key);
  const bytes = await readFile(path);
  const at = Math.floor(bytes.length / 2);
  for (let i = at; i < Math.min(at + 16, bytes.length); i++) bytes[i] = bytes[i]! ^ 0xff;
  await writeFile(path, bytes);
}

/**
 * The one suite every engine passes, unchanged, on real databases (like test/storage/conformance.ts
 * for storage backends): snapshot → store → verify → restore to a new target → same content; an
 * interrupted snapshot leaves nothing visible; a corrupted stored stream leaves targets untouched.
 */
export function engineSuite(name: string, fixture: EngineFixture): void {
  describe(`engine suite: ${name}`, () => {
    let ws: Workspace;
    let backupId: string;
    let restored: string;
    let restoredContent: unknown;

    beforeAll(async () => {
      ws = await workspace();
      await fixture.start(ws);
    });
    afterAll(async () => {
      await fixture.stop();
      await ws?.cleanup();
    });

    it("snapshot → store → verify --deep → restore to a new target: the same content", async () => {
      const expected = await fixture.content(fixture.source());
      expect(expected).toBeDefined();
      const m = JSON.parse(await ok(ws, ["backup", ...(fixture.backupArgs ?? []), fixture.source(), "--json"])) as { id: string; engine: string };
      expect(m.engine).toBe(fixture.engine);
      backupId = m.id;
      await fixture.change?.();
      const v = JSON.parse(await ok(ws, ["verify", backupId, "--deep", "--json"])) as { ok: boolean; backups: { deep?: { ok: boolean } }[] };
      expect(v.ok).toBe(true);
      expect(v.backups[0]!.deep?.ok).toBe(true);
      restored = fixture.freshTarget("copy");
      // A plain --to path is read by the backup's engine; the line reports the command's wall time.
      const line = (await ok(ws, ["restore", backupId, "--to", restored])).split("\n")[0]!;
      expect(line).toMatch(new RegExp(`^restored .*${backupId}.* in \\d+(\\.\\d)? m?s$`));
      restoredContent = await fixture.content(restored);
      expect(restoredContent).toEqual(expected);
      if (fixture.change) expect(await fixture.content(fixture.source())).not.toEqual(expected);
    });

    for (const signal of ["SIGINT", "SIGKILL"] as const) {
      it(`a snapshot stopped midway (${signal === "SIGINT" ? "abort signal" : "the CLI killed"}) leaves no backup`, async () => {
        const before = await listing(ws);
        const code = await interruptedBackup(ws, fixture, signal);
        expect(code).not.toBe(0);
        const after = await listing(ws);
        expect(after.backups.map((b) => b.id)).toEqual(before.backups.map((b) => b.id));
        // An abort cleans up after itself; a killed process leaves only a reservation `list` reports as interrupted.
        if (signal === "SIGINT") expect(after.incomplete).toEqual([]);
        const latest = JSON.parse(await ok(ws, ["show", "latest", "--source", fixture.source(), "--json"])) as { id: string };
        expect(latest.id).toBe(backupId);
      });
    }

    it("a corrupted stored stream: the restore fails and leaves a new target absent, an existing one unchanged", async () => {
      await corrupt(ws, backupId);
      const fresh = fixture.freshTarget("corrupt");
      const r = await cli(ws, ["restore", backupId, "--to", fresh]);
      expect(r.code, r.stdout).not.toBe(0);
      expect(r.stderr).toMatch(/holdfast: error: /);
      expect(await fixture.content(fresh)).toBeUndefined();
      const over = await cli(ws, ["restore", backupId, "--to", restored, ...fixture.replaceArgs]);
      expect(over.code, over.stdout).not.toBe(0);
      expect(await fixture.content(restored)).toEqual(restoredContent);
    });
  });
}
