import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { archiveCommand } from "../../dist/commands/setup-archiving.js";
import type { Settings } from "../../dist/config/load.js";
import { MARKER_DIR, markerText } from "../../dist/wal/push-markers.js";

/**
 * The archive_command setup-archiving writes acknowledges a file an earlier push took along (its
 * marker) in /bin/sh, before Node starts. Run here exactly as PostgreSQL runs it: %p, %f and %%
 * replaced, then `/bin/sh -c` in the data directory. The repositories named do not exist, so a
 * run that reaches Node fails: exit 0 proves the shell answered alone.
 */
let dir: string;
const SEGMENT = "000000010000000000000003";

/** PostgreSQL's substitution (pgarch.c / BuildRestoreCommand): one pass, %p %f %%. */
function asPostgresRunsIt(line: string, walPath: string, name: string): string {
  return line.replace(/%[pf%]/g, (m) => (m === "%p" ? walPath : m === "%f" ? name : "%"));
}

function run(repo: string): { code: number | null; stderr: string } {
  const line = archiveCommand({ repo } as Settings);
  const r = spawnSync("/bin/sh", ["-c", asPostgresRunsIt(line, `pg_wal/${SEGMENT}`, SEGMENT)], { cwd: dir, encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  return { code: r.status, stderr: r.stderr };
}

const marker = () => join(dir, "pg_wal", MARKER_DIR, SEGMENT);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "holdfast-archive-command-"));
  await mkdir(join(dir, "pg_wal", MARKER_DIR), { recursive: true });
  await writeFile(join(dir, "pg_wal", SEGMENT), "wal");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("archive_command's marker test in the shell", () => {
  it("acknowledges a file pushed to this repository without starting Node, and takes the marker", async () => {
    const repo = join(dir, "no-such-repository");
    await writeFile(marker(), markerText(repo));
    const r = run(repo);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(existsSync(marker())).toBe(false);
  });

  it("runs the push when there is no marker, or another repository's", async () => {
    const repo = join(dir, "no-such-repository");
    const none = run(repo);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/holdfast: error: .*no-such-repository/);
    await writeFile(marker(), markerText(join(dir, "elsewhere")));
    const other = run(repo);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/holdfast: error: .*no-such-repository/);
    expect(existsSync(marker())).toBe(true); // the push decides; the marker is not its to take here
    await writeFile(marker(), markerText(repo).slice(0, -3) + "\n"); // a truncated marker is not a match
    expect(run(repo).code).not.toBe(0);
  });

  it("matches a repository path with spaces, quotes, % and $(…) literally, and runs nothing from it", async () => {
    const repo = join(dir, "it's a 100% $(touch pwned) `touch pwned2` repo");
    await writeFile(marker(), markerText(repo));
    const r = run(repo);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(existsSync(marker())).toBe(false);
    expect((await readdir(dir)).filter((n) => n.startsWith("pwned"))).toEqual([]);
  });
});
