import { execFile } from "node:child_process";
import { cp, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HoldfastError } from "../../src/errors.js";
import { sealWithPassphrase } from "../../src/pipeline/passphrase.js";
import { switchKeyFile, type KeyChange } from "../../src/repository/key-switch.js";
import { keyEntries, keyFileText, keysOf } from "../../src/repository/keyring.js";
import { acquireLock, scopeFor } from "../../src/repository/lock.js";
import { Repository } from "../../src/repository/repository.js";
import type { OperationOptions, StorageBackend } from "../../src/storage/backend.js";
import { LocalBackend } from "../../src/storage/local.js";
import { errorLine, runCli, startCli, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { onTerminal } from "../support/terminal.js";

const exec = promisify(execFile);
const OLD = "correct horse battery staple"; // the workspace's passphrase
const NEW = "a new passphrase after the move";

let ws: Workspace;
let backupId: string;

beforeAll(async () => {
  ws = await workspace();
  const db = join(ws.dir, "app.db");
  createDatabase(db, 200);
  const b = await runCli(["backup", `sqlite:${db}`, "--json"], { env: ws.env });
  expect(b.code, b.stderr).toBe(0);
  backupId = JSON.parse(b.stdout).id;
}, 60_000);
afterAll(() => ws.cleanup());

/** A real folder whose process "dies" before its n-th write (put or delete): nothing after it happens. */
class DiesAfter implements StorageBackend {
  private writes = 0;
  constructor(private readonly inner: StorageBackend, private readonly n: number) {}
  get location(): string {
    return this.inner.location;
  }
  private step(): void {
    if (this.writes++ >= this.n) throw new Error(`killed before write ${this.n + 1}`);
  }
  put(key: string, body: Readable, options?: OperationOptions) {
    this.step();
    return this.inner.put(key, body, options);
  }
  get(...args: Parameters<StorageBackend["get"]>) {
    return this.inner.get(...args);
  }
  stat(...args: Parameters<StorageBackend["stat"]>) {
    return this.inner.stat(...args);
  }
  list(...args: Parameters<StorageBackend["list"]>) {
    return this.inner.list(...args);
  }
  delete(key: string, options?: OperationOptions) {
    this.step();
    return this.inner.delete(key, options);
  }
}

async function opensWith(repo: string, passphrase: string): Promise<number> {
  const r = await runCli(["verify", backupId, "--repo", repo], { env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: undefined, HOLDFAST_PASSPHRASE: passphrase } });
  return r.code;
}

/** What opening the repository's keys with this passphrase gives (the code every reading command runs). */
async function unlocks(repo: string, passphrase: string): Promise<string> {
  try {
    await (await Repository.open(new LocalBackend(repo))).unlock({ passphrase });
    return "ok";
  } catch (err) {
    return (err as HoldfastError).code;
  }
}

describe("key passphrase is crash-safe", () => {
  it("killed before any of its writes, the repository opens with the old or the new passphrase, never neither; the next key command finishes the switch", async () => {
    const repo = await Repository.open(new LocalBackend(ws.repo));
    const keys = await keysOf((await repo.unlock({ passphrase: OLD }))!.identities);
    const change: KeyChange = { sealedKeyFile: await sealWithPassphrase(keyFileText(keys), NEW, 10), recipient: keys[0]!.recipient, keys: keyEntries(repo.config), sealedAt: new Date().toISOString() };
    // The switch writes: staged key file, holdfast.json (the switch), key file, holdfast.json, staged file removed.
    for (let n = 0; n <= 5; n++) {
      const copy = join(ws.dir, `crash-${n}`);
      await cp(ws.repo, copy, { recursive: true });
      const attempt = switchKeyFile(await Repository.open(new DiesAfter(new LocalBackend(copy), n)), change);
      if (n < 5) await expect(attempt).rejects.toThrow(`killed before write ${n + 1}`);
      else await attempt;
      expect([n, await unlocks(copy, OLD), await unlocks(copy, NEW)]).toEqual([n, n < 2 ? "ok" : "WRONG_KEY", n < 2 ? "WRONG_KEY" : "ok"]);
      if (n === 2) expect([await opensWith(copy, OLD), await opensWith(copy, NEW)]).toEqual([8, 0]); // the CLI agrees

      // Any later key change settles what was left and works from the passphrase that opens it.
      const third = join(ws.dir, `third-${n}.txt`);
      await writeFile(third, `third passphrase ${n}\n`, { mode: 0o600 });
      const again = await runCli(["key", "passphrase", "--repo", copy, "--new-passphrase-file", third], { env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: undefined, HOLDFAST_PASSPHRASE: n < 2 ? OLD : NEW } });
      expect(again.code, again.stderr).toBe(0);
      expect(await readdir(join(copy, "keys"))).toEqual(["repository.key.age"]);
      expect([await unlocks(copy, `third passphrase ${n}`), await unlocks(copy, OLD), await unlocks(copy, NEW)]).toEqual(["ok", "WRONG_KEY", "WRONG_KEY"]);
      if (n === 2) expect(await opensWith(copy, `third passphrase ${n}`)).toBe(0);
    }
  });

  it("a new passphrase comes from a file or the environment, never from argv, and must differ", async () => {
    const none = await runCli(["key", "passphrase"], { env: ws.env });
    expect(none.code).toBe(2);
    expect(errorLine(none)).toBe("no new passphrase given");
    const same = await runCli(["key", "passphrase"], { env: { ...ws.env, HOLDFAST_NEW_PASSPHRASE: OLD } });
    expect(same.code).toBe(2);
    expect(errorLine(same)).toBe("the new passphrase is the current one");
    expect(same.stderr).not.toContain(OLD);
    const wrongOld = await runCli(["key", "passphrase"], { env: { ...ws.env, HOLDFAST_PASSPHRASE_FILE: undefined, HOLDFAST_PASSPHRASE: "not it", HOLDFAST_NEW_PASSPHRASE: NEW } });
    expect(wrongOld.code).toBe(8);
    expect(await opensWith(ws.repo, OLD)).toBe(0);
  });
});

describe("key changes and other processes", () => {
  it("on a terminal, asks for the new passphrase twice without echoing it", async () => {
    const copy = join(ws.dir, "tty-repo");
    await cp(ws.repo, copy, { recursive: true });
    const env = { ...ws.env, HOLDFAST_REPO: copy, HOLDFAST_LOG_FORMAT: undefined };
    const differ = await onTerminal(["key", "passphrase"], env, [["new passphrase: ", "typed once"], ["new passphrase again: ", "typed twice"]]);
    expect(differ.code).toBe(2);
    expect(differ.screen).toContain("the two new passphrases differ; nothing was changed");
    const typed = await onTerminal(["key", "passphrase"], env, [["new passphrase: ", "typed on a terminal"], ["new passphrase again: ", "typed on a terminal"]]);
    expect(typed.code, typed.screen).toBe(0);
    expect(typed.screen).not.toContain("typed on a terminal");
    expect(await unlocks(copy, "typed on a terminal")).toBe("ok");
  });


  it("a rotation waits for (or refuses during) a running backup, and a second key change waits for the first", async () => {
    const backend = new LocalBackend(ws.repo);
    const running = await acquireLock(backend, scopeFor("sqlite:/srv/other.db"), "backup of sqlite:/srv/other.db");
    const refused = await runCli(["key", "rotate"], { env: ws.env });
    expect(refused.code).toBe(13);
    expect(errorLine(refused)).toMatch(/^cannot rotate the key while 1 backup\(s\) or restore\(s\) run \(backup of sqlite:\/srv\/other\.db, pid \d+/);

    const keysLock = await acquireLock(backend, "keys", "key rotate");
    const blocked = await runCli(["key", "passphrase"], { env: { ...ws.env, HOLDFAST_NEW_PASSPHRASE: NEW } });
    expect(blocked.code).toBe(13);
    expect(errorLine(blocked)).toMatch(/holds the lock for this repository's keys \(key rotate, pid/);
    await keysLock.release();

    const waiting = startCli(["key", "rotate", "--lock-wait", "30s", "--json"], { env: ws.env });
    let out = "";
    waiting.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    const done = new Promise<number>((r) => waiting.on("close", (code) => r(code ?? 1)));
    await sleep(1500);
    expect(waiting.exitCode).toBeNull(); // still waiting for the backup
    await running.release();
    expect(await done).toBe(0);
    expect(JSON.parse(out).keys).toBe(2);
    expect(await opensWith(ws.repo, OLD)).toBe(0);
  });

  it("holdfast copy gives an earlier copy the primary's new key file, and refuses another repository", async () => {
    const copy = join(ws.dir, "offsite");
    expect((await runCli(["copy", "--all", "--to", copy], { env: ws.env })).code).toBe(0);
    const rotated = await runCli(["key", "passphrase"], { env: { ...ws.env, HOLDFAST_NEW_PASSPHRASE: NEW } });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(await opensWith(copy, OLD)).toBe(0); // not in copy_to: still the old key file …
    const again = await runCli(["copy", "--all", "--to", copy], { env: ws.env });
    expect(again.code, again.stderr).toBe(0);
    expect(await opensWith(copy, OLD)).toBe(8); // … until the next copy there
    expect(await opensWith(copy, NEW)).toBe(0);

    const other = await workspace();
    try {
      const r = await runCli(["copy", "--all", "--to", other.repo], { env: ws.env });
      expect(r.code).toBe(7);
      expect(errorLine(r)).toBe(`${other.repo} is a different repository (other keys) than ${ws.repo}`);
    } finally {
      await other.cleanup();
    }
  });

  it("repositories encrypted to the user's own age keys are refused with the reason", async () => {
    const { stdout } = await exec("age-keygen", []);
    const recipient = /public key: (age1[0-9a-z]+)/.exec(stdout)![1]!;
    const repo = join(ws.dir, "recipients-repo");
    expect((await runCli(["repo", "init", repo, "--recipient", recipient], { env: ws.env })).code).toBe(0);
    for (const cmd of ["rotate", "passphrase"]) {
      const r = await runCli(["key", cmd, "--repo", repo], { env: { ...ws.env, HOLDFAST_NEW_PASSPHRASE: NEW } });
      expect(r.code).toBe(2);
      expect(errorLine(r)).toBe(`the repository at ${repo} is encrypted to your own age keys (${recipient}): Holdfast holds no key or passphrase for it (key ${cmd})`);
    }
  });
});
