import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { CLI, workspace, type Workspace } from "../support/cli.js";
import { moduleLog, type ModuleLog } from "../support/module-log.js";

/**
 * The AWS SDK is a large share of a short command's start-up: opening a local repository must not
 * load it (archive_command runs one process per WAL segment). A module hook records what Node
 * loads (test/support/module-log.ts).
 */
let ws: Workspace;
let mods: ModuleLog;

beforeAll(async () => {
  ws = await workspace();
  mods = await moduleLog(ws.dir);
});
afterAll(() => ws?.cleanup());

const node = (args: string[]) => mods.node(args, ws.env);

async function awsModules(): Promise<string[]> {
  return (await mods.loaded()).filter((url) => url.includes("/@aws-sdk/"));
}

describe("the S3 backend is loaded only for an S3 repository", () => {
  it("the hook sees the SDK when the S3 backend is imported (control)", async () => {
    const r = await node(["--input-type=module", "-e", `await import(${JSON.stringify(pathToFileURL(join(dirname(CLI), "../storage/s3.js")).href)})`]);
    expect(r.code, r.stderr).toBe(0);
    expect((await awsModules()).length).toBeGreaterThan(0);
    await mods.reset();
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
