import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { CLI, workspace, type Workspace } from "../support/cli.js";

/**
 * The AWS SDK is a large share of a short command's start-up: opening a local repository must not
 * load it (archive_command runs one process per WAL segment). A module hook records every
 * @aws-sdk module Node loads.
 */
let ws: Workspace;
let register: string;
let loaded: string;

beforeAll(async () => {
  ws = await workspace();
  loaded = join(ws.dir, "aws-modules.txt");
  const hooks = join(ws.dir, "hooks.mjs");
  await writeFile(
    hooks,
    `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  if (url.includes("/@aws-sdk/")) appendFileSync(${JSON.stringify(loaded)}, url + "\\n");
  return next(url, context);
}`,
  );
  register = join(ws.dir, "register.mjs");
  await writeFile(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
});
afterAll(() => ws?.cleanup());

function node(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", register, ...args], { env: { ...process.env, ...ws.env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stderr }));
  });
}

async function awsModules(): Promise<string[]> {
  return (await readFile(loaded, "utf8").catch(() => "")).split("\n").filter(Boolean);
}

describe("the S3 backend is loaded only for an S3 repository", () => {
  it("the hook sees the SDK when the S3 backend is imported (control)", async () => {
    const r = await node(["--input-type=module", "-e", `await import(${JSON.stringify(pathToFileURL(join(dirname(CLI), "../storage/s3.js")).href)})`]);
    expect(r.code, r.stderr).toBe(0);
    expect((await awsModules()).length).toBeGreaterThan(0);
    await writeFile(loaded, "");
  });

  it("wal-push and the lean archive_command entry into a local repository load none of it", async () => {
    for (const [i, entry] of [[CLI, "wal-push"], [join(dirname(CLI), "wal-push-main.js")]].entries()) {
      const segment = join(ws.dir, `00000001000000000000000${i + 1}`);
      await writeFile(segment, randomBytes(64 * 1024));
      const r = await node([...entry, segment, "--repo", ws.repo]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(await awsModules()).toEqual([]);
  });
});
