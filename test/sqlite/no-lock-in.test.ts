import { describe, expect, it, afterAll } from "vitest";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { runCli } from "../support/cli.js";
import { countRows, createDatabase, dumpTable } from "../support/sqlite.js";

const exec = promisify(execFile);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function scratch(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "holdfast-nolockin-"));
  dirs.push(d);
  return d;
}

/** Run a shell pipeline of stock tools only. */
async function sh(script: string): Promise<string> {
  const { stdout } = await exec("bash", ["-o", "pipefail", "-c", script]);
  return stdout;
}

describe("a backup restores without Holdfast (age, zstd, gzip, sqlite3)", () => {
  it("recipient-encrypted repository: age -d -i identity | zstd -d → sqlite3", async () => {
    const dir = await scratch();
    await exec("age-keygen", ["-o", join(dir, "identity.txt")]);
    const recipient = (await readFile(join(dir, "identity.txt"), "utf8")).match(/public key: (age1[0-9a-z]+)/)![1]!;
    const repo = join(dir, "repo");
    expect((await runCli(["repo", "init", repo, "--recipient", recipient])).code).toBe(0);
    const db = join(dir, "app.db");
    createDatabase(db, 1500);
    const b = await runCli(["backup", `sqlite:${db}`, "--repo", repo, "--json"], { env: { HOLDFAST_TMPDIR: dir } });
    expect(b.code, b.stderr).toBe(0);
    const key = JSON.parse(b.stdout).files[0].key as string;
    const out = join(dir, "by-hand.db");
    await sh(`age -d -i '${dir}/identity.txt' '${repo}/${key}' | zstd -d -q -o '${out}'`);
    expect((await sh(`sqlite3 '${out}' 'PRAGMA integrity_check; SELECT count(*) FROM items;'`)).trim().split("\n")).toEqual(["ok", "1500"]);
    expect(dumpTable(out, "items")).toEqual(dumpTable(db, "items"));
    // Holdfast itself reads it back with the identity file.
    const r = await runCli(["restore", "latest", "--repo", repo, "--identity-file", join(dir, "identity.txt"), "--to", join(dir, "holdfast.db")], { env: { HOLDFAST_TMPDIR: dir } });
    expect(r.code, r.stderr).toBe(0);
    const noKey = await runCli(["restore", "latest", "--repo", repo, "--to", join(dir, "nokey.db")], { env: { HOLDFAST_TMPDIR: dir } });
    expect(noKey.code).toBe(8);
  });

  it("passphrase repository: `age -d` opens the key file with the passphrase, then the data", async () => {
    const dir = await scratch();
    const repo = join(dir, "repo");
    const passphraseFile = join(dir, "pass.txt");
    await writeFile(passphraseFile, "a long enough passphrase\n", { mode: 0o600 });
    const env = { HOLDFAST_REPO: repo, HOLDFAST_PASSPHRASE_FILE: passphraseFile, HOLDFAST_TMPDIR: dir };
    expect((await runCli(["repo", "init", "--scrypt-work-factor", "12"], { env })).code).toBe(0);
    const db = join(dir, "app.db");
    createDatabase(db, 800);
    const b = await runCli(["backup", `sqlite:${db}`, "--compression", "gzip", "--json"], { env });
    expect(b.code, b.stderr).toBe(0);
    const key = JSON.parse(b.stdout).files[0].key as string;
    // age reads passphrases from the terminal only: give it one with script(1).
    await new Promise<void>((resolve, reject) => {
      const child = spawn("script", ["-qec", `age -d -o '${dir}/identity.txt' '${repo}/keys/repository.key.age'`, "/dev/null"], { stdio: ["pipe", "ignore", "ignore"] });
      setTimeout(() => child.stdin.end("a long enough passphrase\n"), 500);
      child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`age exited ${code}`))));
    });
    expect(await readFile(join(dir, "identity.txt"), "utf8")).toMatch(/^AGE-SECRET-KEY-1/);
    const out = join(dir, "by-hand.db");
    await sh(`age -d -i '${dir}/identity.txt' '${repo}/${key}' | gzip -d > '${out}'`);
    expect(countRows(out, "items")).toBe(800);
  });

  it("unencrypted repository: zstd -d alone; sha256sum matches the manifest", async () => {
    const dir = await scratch();
    const repo = join(dir, "repo");
    expect((await runCli(["repo", "init", repo, "--encryption", "none"])).code).toBe(0);
    const db = join(dir, "app.db");
    createDatabase(db, 500);
    const b = await runCli(["backup", `sqlite:${db}`, "--repo", repo, "--json"], { env: { HOLDFAST_TMPDIR: dir } });
    const file = JSON.parse(b.stdout).files[0];
    expect((await sh(`sha256sum '${repo}/${file.key}'`)).split(" ")[0]).toBe(file.storedSha256);
    expect((await sh(`zstd -d -q -c '${repo}/${file.key}' | sha256sum`)).split(" ")[0]).toBe(file.contentSha256);
    await sh(`zstd -d -q -o '${dir}/out.db' '${repo}/${file.key}'`);
    expect(countRows(join(dir, "out.db"), "items")).toBe(500);
  });
});
