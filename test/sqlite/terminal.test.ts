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

  it("shows an export's table (of how many), bytes, rate and rows, and an import's rows of each table", async () => {
    const db = join(ws.dir, "tty-export.db");
    createDatabase(db, 120_000);
    const out = join(ws.dir, "tty.export");
    const exportScreen = await onTerminal(["export", `sqlite:${db}`, "--out", out, "--encryption", "none"]);
    expect(exportScreen).toMatch(/export items \(\d\/2\) [\d.]+ MB [\d.]+ MB\/s, [1-9]\d* rows/);
    expect(exportScreen).toMatch(/export tags \(\d\/2\) [\d.]+ MB [\d.]+ MB\/s, [1-9]\d* rows/);
    const importScreen = await onTerminal(["import", out, "--to", `sqlite:${join(ws.dir, "tty-imported.db")}`, "--create-schema", "--strategy", "fail"]);
    expect(importScreen).toMatch(/import items \(\d\/2\) \[[█░]+\] \d+\/120000 rows/);
  });
});
