import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFile, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { CLI, runCli, startCli, workspace, errorLine, type Workspace } from "../support/cli.js";
import { describeTree } from "./tree.js";

const exec = promisify(execFile);
let ws: Workspace;
let live: string;
beforeAll(async () => {
  ws = await workspace();
  live = join(ws.dir, "volume");
  await mkdir(join(live, "data"), { recursive: true });
  await writeFile(join(live, "big.bin"), randomBytes(48 * 1024 * 1024)); // incompressible: seconds of work to interrupt
  for (let i = 0; i < 50; i++) await writeFile(join(live, "data", `f${i}.txt`), `row ${i}\n`);
});
afterAll(() => ws.cleanup());

/** Start the CLI and SIGKILL it once `ready` holds (polled), a little after the given log line. */
async function killDuring(args: string[], logLine: string, ready: () => Promise<boolean>): Promise<void> {
  const child: ChildProcess = startCli(args, { env: ws.env });
  let stderr = "";
  child.stdout!.resume();
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise((res) => child.once("exit", res));
  const deadline = Date.now() + 30_000;
  while (!(stderr.includes(logLine) && (await ready()))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`never reached "${logLine}": ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill("SIGKILL");
  await exited;
}

const names = async (dir: string, part: string) => (await readdir(dir)).filter((n) => n.includes(part));

describe("files: interrupted and refused", () => {
  it("kill -9 during a backup leaves nothing visible; the next backup works and removes the leftovers", async () => {
    await killDuring(["backup", `files:${live}`], "backup started", async () => (await names(ws.dir, "holdfast-files-")).length > 0);
    const list = await runCli(["list", "--json"], { env: ws.env });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).backups).toEqual([]);
    expect(await names(ws.dir, "holdfast-files-")).toHaveLength(1); // the killed run's temporary
    const b = await runCli(["backup", `files:${live}`, "--json"], { env: ws.env });
    expect(b.code, b.stderr).toBe(0);
    expect(await names(ws.dir, "holdfast-files-")).toEqual([]);
    const after = await runCli(["list", "--json"], { env: ws.env });
    expect(JSON.parse(after.stdout).backups.map((m: { id: string }) => m.id)).toEqual([JSON.parse(b.stdout).id]);
  });

  it("kill -9 during an in-place restore leaves the folder untouched; the next restore completes", async () => {
    await writeFile(join(live, "data", "f0.txt"), "changed after the backup\n");
    const before = await describeTree(live);
    await killDuring(["restore", "latest", "--in-place", "--to", `files:${live}`], "restore started", async () => (await names(ws.dir, ".volume.holdfast-restore-")).length > 0);
    expect(await describeTree(live)).toEqual(before);
    expect(await names(ws.dir, "volume.holdfast-safety-")).toEqual([]);
    const r = await runCli(["restore", "latest", "--in-place", "--to", `files:${live}`], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(await names(ws.dir, ".volume.holdfast-restore-")).toEqual([]); // the killed run's half-written copy is gone
    expect(await names(ws.dir, "volume.holdfast-safety-")).toHaveLength(1);
  });

  it("run as an unprivileged user, an unreadable folder or file is a clear error naming it", async () => {
    const mine = join(ws.dir, "unpriv");
    await mkdir(mine);
    const repo = join(mine, "repo");
    const env = { HOLDFAST_REPO: repo, HOLDFAST_TMPDIR: mine, HOLDFAST_LOG_FORMAT: "json", HOLDFAST_PASSPHRASE_FILE: undefined };
    expect((await runCli(["repo", "init", repo, "--encryption", "none"], { env })).code).toBe(0);
    await exec("chown", ["-R", "nobody", mine]);
    await chmod(ws.dir, 0o755);
    const app = join(mine, "app");
    await mkdir(join(app, "private"), { recursive: true });
    await writeFile(join(app, "public.conf"), "ok");
    await writeFile(join(app, "private", "key.pem"), "secret");
    await chmod(join(app, "private"), 0o700); // root's: nobody cannot list it
    const asNobody = (args: string[]) =>
      exec("runuser", ["-u", "nobody", "--", "env", `HOLDFAST_REPO=${repo}`, `HOLDFAST_TMPDIR=${mine}`, process.execPath, CLI, ...args]).then(
        () => ({ code: 0, stdout: "", stderr: "" }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    const folder = await asNobody(["backup", `files:${app}`]);
    expect(folder.code, folder.stderr).toBe(4);
    expect(errorLine(folder)).toBe(`cannot read ${join(app, "private")}: permission denied`);
    await chmod(join(app, "private"), 0o755);
    await chmod(join(app, "private", "key.pem"), 0o600);
    await chown(join(app, "private", "key.pem"), 0, 0);
    const file = await asNobody(["backup", `files:${app}`]);
    expect(file.code, file.stderr).toBe(4);
    expect(errorLine(file)).toBe(`cannot read ${join(app, "private", "key.pem")}: permission denied`);
    const list = await asNobody(["list"]);
    expect(list.code, list.stderr).toBe(0);
    const listed = await runCli(["list", "--json", "--repo", repo], { env });
    expect(JSON.parse(listed.stdout).backups).toEqual([]);
  });
});
