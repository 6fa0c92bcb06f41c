import { describe, expect, it, afterAll, beforeAll } from "vitest";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { CLI, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";

let ws: Workspace;
beforeAll(async () => {
  ws = await workspace();
});
afterAll(() => ws.cleanup());

/** Run the CLI on a real pseudo-terminal (script(1)) and return everything it drew. */
function onTerminal(args: string[]): Promise<string> {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], { env: { ...process.env, ...ws.env, HOLDFAST_LOG_FORMAT: undefined, TERM: "xterm" }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${out}`))));
  });
}

describe("on a terminal", () => {
  it("shows progress with bytes, rate and ETA, and human log lines instead of JSON", async () => {
    const db = join(ws.dir, "tty.db");
    createDatabase(db, 120_000);
    const backupScreen = await onTerminal(["backup", `sqlite:${db}`, "--level", "15"]);
    expect(backupScreen).toMatch(/backup database \[[█░]+\] \d+% [\d.]+\/[\d.]+ MB [\d.]+ MB\/s ETA \d+s/);
    expect(backupScreen).toMatch(/\d\d:\d\d:\d\d info backup complete {2}id=\d{8}T\d{6}Z/);
    expect(backupScreen).not.toContain('{"level"');
    const restoreScreen = await onTerminal(["restore", "latest", "--to", join(ws.dir, "tty-restored.db")]);
    expect(restoreScreen).toMatch(/restore database \[[█░]+\] 100%/);
    expect(restoreScreen).toContain("restored ");
  });
});
