import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, workspace, errorLine, type Workspace } from "../support/cli.js";
import { alignToSecond } from "../support/clock.js";
import { describeTree, makeTree, LONG_DIR, LONG_FILE } from "./tree.js";

let ws: Workspace;
let src: string;
let backupId: string;
beforeAll(async () => {
  ws = await workspace();
  src = join(ws.dir, "etc-myapp");
  await makeTree(src);
  const b = await runCli(["backup", `files:${src}`, "--json"], { env: ws.env });
  expect(b.code, b.stderr).toBe(0);
  backupId = JSON.parse(b.stdout).id;
});
afterAll(() => ws.cleanup());

const siblings = async (dir: string, base: string) => (await readdir(dir)).filter((n) => n.includes(`${base}.holdfast-`)).sort();

describe("files: a folder backed up as a tar stream", () => {
  it("records counts and a tree digest; per-file facts are in the stored index", async () => {
    const show = await runCli(["show", backupId, "--json"], { env: ws.env });
    expect(show.code, show.stderr).toBe(0);
    const m = JSON.parse(show.stdout);
    expect(m.engine).toBe("files");
    expect(m.source.uri).toBe(`files:${src}`);
    expect(m.files.map((f: { name: string }) => f.name)).toEqual(["files", "index"]);
    expect(m.details).toMatchObject({ format: "tar (POSIX pax)", fileCount: 8, dirCount: 5, symlinkCount: 3, totalBytes: 300_070 });
    expect(m.details.treeSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("restores to a new folder: content, modes, mtimes, owners, symlinks, empty folders, long and non-ASCII names", async () => {
    const to = join(ws.dir, "restored");
    const r = await runCli(["restore", backupId, "--to", `files:${to}`], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`to ${to}`);
    expect(await describeTree(to)).toEqual(await describeTree(src));
    expect(await readFile(join(to, LONG_DIR, "deeper", LONG_FILE), "utf8")).toBe("long\n");
    expect((await stat(to)).mode & 0o777).toBe((await stat(src)).mode & 0o777);
    expect(await siblings(ws.dir, "restored")).toEqual([]);
  });

  it("refuses a non-empty new target and leaves it as it was; an empty folder is fine", async () => {
    const busy = join(ws.dir, "busy");
    await mkdir(busy);
    await writeFile(join(busy, "keep.txt"), "mine");
    const r = await runCli(["restore", backupId, "--to", `files:${busy}`], { env: ws.env });
    expect(r.code).toBe(18);
    expect(errorLine(r)).toContain(`${busy} is not empty`);
    expect(await readdir(busy)).toEqual(["keep.txt"]);
    const empty = join(ws.dir, "empty-target");
    await mkdir(empty);
    const ok = await runCli(["restore", backupId, "--to", `files:${empty}`], { env: ws.env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await describeTree(empty)).toEqual(await describeTree(src));
  });

  it("verify and verify --deep prove the backup (deep: unpacked in scratch, every file hashed)", async () => {
    const v = await runCli(["verify", backupId], { env: ws.env });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const deep = await runCli(["verify", backupId, "--deep", "--json"], { env: ws.env });
    expect(deep.code, deep.stdout + deep.stderr).toBe(0);
    const report = JSON.parse(deep.stdout);
    expect(report.backups[0].deep).toMatchObject({ ok: true, details: { fileCount: 8, dirCount: 5, symlinkCount: 3 } });
    expect((await readdir(ws.dir)).filter((n) => n.startsWith("holdfast-verify-") || n.startsWith("holdfast-files-"))).toEqual([]);
  });

  it("restores in place: the live folder is kept whole as <folder>.holdfast-safety-<time>, named in the output", async () => {
    const live = join(ws.dir, "live");
    await makeTree(live);
    const b = await runCli(["backup", `files:${live}`, "--json"], { env: ws.env });
    expect(b.code, b.stderr).toBe(0);
    const id = JSON.parse(b.stdout).id;
    const original = await describeTree(live);
    await writeFile(join(live, "app.yaml"), "broken by an upgrade\n");
    await writeFile(join(live, "stray.tmp"), "x");
    const changed = await describeTree(live);
    const r = await runCli(["restore", id, "--in-place"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(await describeTree(live)).toEqual(original);
    const [safety, ...more] = await siblings(ws.dir, "live");
    expect(more).toEqual([]);
    expect(safety).toMatch(/^live\.holdfast-safety-\d{8}T\d{6}Z$/);
    expect(r.stdout).toContain(`previous folder kept at ${join(ws.dir, safety!)}`);
    expect(await describeTree(join(ws.dir, safety!))).toEqual(changed);

    // `latest --in-place --to <plain path>` means that folder's own latest backup.
    await writeFile(join(live, "app.yaml"), "broken again\n");
    const byPath = await runCli(["restore", "latest", "--in-place", "--to", live], { env: ws.env });
    expect(byPath.code, byPath.stderr).toBe(0);
    expect(await describeTree(live)).toEqual(original);
  });

  it("a corrupted stored object: restore fails and the target is untouched (no safety copy, no temporary left)", async () => {
    const live = join(ws.dir, "fragile");
    await makeTree(live);
    const b = await runCli(["backup", `files:${live}`, "--json"], { env: ws.env });
    expect(b.code, b.stderr).toBe(0);
    const m = JSON.parse(b.stdout);
    const tarKey = m.files.find((f: { name: string }) => f.name === "files").key as string;
    const path = join(ws.repo, tarKey);
    const bytes = await readFile(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x5a;
    await writeFile(path, bytes);
    await writeFile(join(live, "app.yaml"), "edited since\n");
    const before = await describeTree(live);
    const r = await runCli(["restore", m.id, "--in-place"], { env: ws.env });
    expect(r.code).toBe(9);
    expect(errorLine(r)).toContain(tarKey);
    expect(await describeTree(live)).toEqual(before);
    expect(await siblings(ws.dir, "fragile")).toEqual([]);
    const v = await runCli(["verify", m.id], { env: ws.env });
    expect(v.code).not.toBe(0);
  });

  it("two folders backed up at the same second get two ids, each restoring its own folder", async () => {
    const a = join(ws.dir, "twin-a");
    const c = join(ws.dir, "twin-b");
    await mkdir(a);
    await mkdir(c);
    await writeFile(join(a, "who"), "a");
    await writeFile(join(c, "who"), "b");
    // Started together just after a second begins; under load a round can straddle two seconds, so a few rounds.
    const pairs: { id: string; startedAt: string }[][] = [];
    for (let round = 0; round < 3 && !pairs.some(([x, y]) => x!.startedAt.slice(0, 19) === y!.startedAt.slice(0, 19)); round++) {
      await alignToSecond();
      const [ra, rb] = await Promise.all([runCli(["backup", `files:${a}`, "--json"], { env: ws.env }), runCli(["backup", `files:${c}`, "--json"], { env: ws.env })]);
      expect(ra.code, ra.stderr).toBe(0);
      expect(rb.code, rb.stderr).toBe(0);
      pairs.push([JSON.parse(ra.stdout), JSON.parse(rb.stdout)]);
    }
    expect(new Set(pairs.flat().map((m) => m.id)).size).toBe(pairs.length * 2);
    const same = pairs.find(([x, y]) => x!.startedAt.slice(0, 19) === y!.startedAt.slice(0, 19));
    expect(same, `no round shared a second: ${JSON.stringify(pairs)}`).toBeDefined();
    const [ma, mb] = same as [{ id: string; startedAt: string }, { id: string; startedAt: string }];
    for (const [m, who] of [[ma, "a"], [mb, "b"]] as const) {
      const to = join(ws.dir, `twin-restored-${who}`);
      const r = await runCli(["restore", m.id, "--to", `files:${to}`], { env: ws.env });
      expect(r.code, r.stderr).toBe(0);
      expect(await readFile(join(to, "who"), "utf8")).toBe(who);
    }
  });
});
