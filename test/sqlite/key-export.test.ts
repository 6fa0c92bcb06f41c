import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { countRows, createDatabase } from "../support/sqlite.js";
import { onTerminal } from "../support/terminal.js";

const exec = promisify(execFile);
let ws: Workspace;

beforeAll(async () => {
  ws = await workspace();
}, 60_000);
afterAll(() => ws.cleanup());

describe("holdfast key export", () => {
  it("writes the identity 0600 once; age -d -i restores a backup with no terminal and no Holdfast", async () => {
    const db = join(ws.dir, "app.db");
    createDatabase(db, 700);
    const b = await runCli(["backup", `sqlite:${db}`, "--json"], { env: ws.env });
    expect(b.code, b.stderr).toBe(0);
    const key = JSON.parse(b.stdout).files[0].key as string;

    const out = join(ws.dir, "identity.txt");
    const r = await runCli(["key", "export", "--out", out], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`to ${out} (mode 0600)`);
    expect(r.stdout + r.stderr).not.toContain("AGE-SECRET-KEY-1");
    expect((await stat(out)).mode & 0o777).toBe(0o600);

    const restored = join(ws.dir, "by-hand.db");
    await exec("bash", ["-o", "pipefail", "-c", `age -d -i "${out}" "${join(ws.repo, key)}" | zstd -d -q -o "${restored}"`]);
    expect(countRows(restored, "items")).toBe(700);

    const again = await runCli(["key", "export", "--out", out], { env: ws.env });
    expect(again.code).toBe(18);
    expect(errorLine(again)).toBe(`${out} already exists`);
    const wrong = await runCli(["key", "export", "--out", join(ws.dir, "other.txt")], { env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: undefined, HOLDFAST_PASSPHRASE: "not the passphrase" } });
    expect(wrong.code).toBe(8);
  });

  it("on a terminal with no passphrase configured, asks for it once without echoing it", async () => {
    const passphrase = await readFile(ws.env.HOLDFAST_PASSPHRASE_FILE!, "utf8");
    const env = { ...ws.env, HOLDFAST_PASSPHRASE_FILE: undefined, HOLDFAST_PASSPHRASE: undefined, HOLDFAST_LOG_FORMAT: undefined };
    const out = join(ws.dir, "typed-identity.txt");
    const typed = await onTerminal(["key", "export", "--out", out], env, [["repository passphrase: ", passphrase.replace(/\n$/, "")]]);
    expect(typed.code, typed.screen).toBe(0);
    expect(typed.screen.match(/repository passphrase: /g)).toHaveLength(1);
    expect(typed.screen).not.toContain(passphrase.trim());
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(await readFile(out, "utf8")).toMatch(/^AGE-SECRET-KEY-1/m);
  });
});
