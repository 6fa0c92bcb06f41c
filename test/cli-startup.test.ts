import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, workspace, type Workspace } from "./support/cli.js";
import { moduleLog, packagesOf, type ModuleLog } from "./support/module-log.js";

/**
 * Start-up cost is module loading: `--help`, `--version` and a command's own help load commander
 * and the command registrations only; the configuration schema (zod, yaml) and pino load when a
 * command runs, and the daemon's fastify and prom-client, and the S3 SDK, never for a local
 * command. A module hook records what Node loads (no timing).
 */
const NEVER_AT_START = ["zod", "yaml", "pino", "fastify", "prom-client", "@aws-sdk/client-s3", "@aws-sdk/lib-storage", "better-sqlite3", "pg", "age-encryption"];
const DAEMON_AND_S3 = ["fastify", "prom-client", "@aws-sdk/client-s3", "@aws-sdk/lib-storage"];

let ws: Workspace;
let mods: ModuleLog;

beforeAll(async () => {
  ws = await workspace();
  mods = await moduleLog(ws.dir);
});
afterAll(() => ws?.cleanup());

async function packagesLoadedBy(args: string[]): Promise<{ packages: string[]; stdout: string }> {
  await mods.reset();
  const r = await mods.node([CLI, ...args], ws.env);
  expect(r.code, r.stderr).toBe(0);
  return { packages: packagesOf(await mods.loaded()), stdout: r.stdout };
}

describe("CLI start-up loads only what the command needs", () => {
  it("a command that reads its settings loads zod and pino (the hook sees them: control)", async () => {
    const { packages, stdout } = await packagesLoadedBy(["list"]);
    expect(stdout).toContain("no backups");
    expect(packages).toEqual(expect.arrayContaining(["commander", "zod", "pino"]));
    for (const p of DAEMON_AND_S3) expect(packages, `list on a local repository loaded ${p}`).not.toContain(p);
  });

  it.each(["--version", "--help", "backup --help", "wal-push --help", "restore --help", "migrate up --help", "daemon --help", "export --help", "import --help"])("holdfast %s loads commander and nothing heavy", async (line) => {
    const args = line.split(" ");
    const { packages, stdout } = await packagesLoadedBy(args);
    expect(stdout.length).toBeGreaterThan(0);
    expect(packages).toContain("commander");
    for (const p of NEVER_AT_START) expect(packages, `holdfast ${args.join(" ")} loaded ${p}`).not.toContain(p);
  });
});
