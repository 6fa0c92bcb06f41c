import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { CLI, runCli, workspace, type Workspace } from "../support/cli.js";
import { describeTree, makeTree } from "./tree.js";

const exec = promisify(execFile);
let ws: Workspace;
beforeAll(async () => {
  ws = await workspace();
});
afterAll(() => ws.cleanup());

/** The ```sh blocks of one "## <title>" section of a doc, in order. */
async function shellBlocks(doc: string, title: string): Promise<string[]> {
  const text = await readFile(resolve(import.meta.dirname, "../../docs", doc), "utf8");
  const section = text.split(/^## /m).find((s) => s.startsWith(`${title}\n`));
  if (!section) throw new Error(`no "## ${title}" in docs/${doc}`);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe("a files backup restores without Holdfast: docs/files.md, followed literally", () => {
  it("age -d -i identity.txt | zstd -d | tar -x gives back the folder (content, modes, mtimes, symlinks, long names)", async () => {
    const src = join(ws.dir, "etc-myapp");
    await makeTree(src);
    const b = await runCli(["backup", `files:${src}`, "--json"], { env: ws.env });
    expect(b.code, b.stderr).toBe(0);
    const bin = join(ws.dir, "bin");
    await mkdir(bin);
    await writeFile(join(bin, "holdfast"), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`);
    await chmod(join(bin, "holdfast"), 0o755);
    const cwd = join(ws.dir, "by-hand");
    await mkdir(cwd);
    const target = join(ws.dir, "restored-by-hand");
    const blocks = await shellBlocks("files.md", "Restore by hand");
    expect(blocks).toHaveLength(2);
    await exec("bash", ["-euo", "pipefail", "-c", blocks.join("\n")], {
      cwd,
      env: { PATH: `${bin}:${process.env.PATH}`, REPO: ws.repo, BACKUP_ID: JSON.parse(b.stdout).id, TARGET: target, HOLDFAST_PASSPHRASE_FILE: ws.passphraseFile, HOLDFAST_LOG_FORMAT: "json" },
    });
    expect((await stat(join(cwd, "identity.txt"))).mode & 0o777).toBe(0o600);
    expect(await describeTree(target)).toEqual(await describeTree(src));
  });
});
