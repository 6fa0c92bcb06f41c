import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { errorLine, runCli, startCli, workspace, type Workspace } from "../support/cli.js";

/** wal-push / wal-fetch as PostgreSQL calls them, without a server: idempotence, failures, kill -9. */
let ws: Workspace;
const SEG = "000000010000000000000001";
const walDir = () => join(ws.repo, "wal", "00000001");

beforeAll(async () => {
  ws = await workspace();
});
afterAll(() => ws.cleanup());

describe("wal-push / wal-fetch", () => {
  it("archives a segment encrypted and compressed, without the passphrase, files 0600", async () => {
    const path = join(ws.dir, SEG);
    await writeFile(path, Buffer.concat([randomBytes(256 * 1024), Buffer.alloc(768 * 1024)]));
    const { HOLDFAST_PASSPHRASE_FILE: _, ...noSecret } = ws.env;
    const r = await runCli(["wal-push", path], { env: noSecret });
    expect(r.code, r.stderr).toBe(0);
    const names = (await readdir(walDir())).sort();
    expect(names).toHaveLength(2);
    expect(names).toContain(`${SEG}.json`);
    // The data under a name of its own, which the record names.
    const dataName = names.find((n) => n !== `${SEG}.json`)!;
    expect(dataName).toMatch(new RegExp(`^${SEG}\\.[0-9a-f]{16}\\.zst\\.age$`));
    for (const n of names) expect((await stat(join(walDir(), n))).mode & 0o777).toBe(0o600);
    expect((await stat(walDir())).mode & 0o777).toBe(0o700);
    const stored = await readFile(join(walDir(), dataName));
    expect(stored.subarray(0, 22).toString()).toBe("age-encryption.org/v1\n");
    expect(stored.length).toBeLessThan(400 * 1024); // the zero tail compressed
    const record = JSON.parse(await readFile(join(walDir(), `${SEG}.json`), "utf8"));
    expect(record.file.key).toBe(`wal/${SEG.slice(0, 8)}/${dataName}`);
    expect(record.file.contentBytes).toBe(1024 * 1024);
    expect(record.file.compression.algorithm).toBe("zstd");
    expect(JSON.stringify(record)).not.toContain("correct horse");
  });

  it("pushing the same content again succeeds; different content under the same name fails loudly", async () => {
    const path = join(ws.dir, SEG);
    const again = await runCli(["wal-push", path], { env: ws.env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/already-archived/);
    await writeFile(path, randomBytes(1024 * 1024));
    const clash = await runCli(["wal-push", path], { env: ws.env });
    expect(clash.code).not.toBe(0);
    expect(errorLine(clash)).toMatch(new RegExp(`WAL file ${SEG} is already archived .* with different content`));
  });

  it("fetches exactly the bytes archived first; a missing file is a clean non-zero", async () => {
    const dest = join(ws.dir, "RECOVERYXLOG");
    const f = await runCli(["wal-fetch", SEG, dest], { env: ws.env });
    expect(f.code, f.stderr).toBe(0);
    const got = await readFile(dest);
    expect(got.length).toBe(1024 * 1024);
    expect(got.subarray(256 * 1024).every((b) => b === 0)).toBe(true);
    const missing = await runCli(["wal-fetch", "000000010000000000000009", dest + "2"], { env: ws.env });
    expect(missing.code).toBe(25);
    expect(errorLine(missing)).toMatch(/000000010000000000000009 is not in the archive/);
  });

  it("rejects bad input with a non-zero status so PostgreSQL retries", async () => {
    const absent = await runCli(["wal-push", join(ws.dir, "000000010000000000000005")], { env: ws.env });
    expect(absent.code).toBe(4);
    expect(errorLine(absent)).toMatch(/does not exist/);
    await writeFile(join(ws.dir, "notwal"), "x");
    const bad = await runCli(["wal-push", join(ws.dir, "notwal")], { env: ws.env });
    expect(bad.code).toBe(2);
    const noRepo = await runCli(["wal-push", join(ws.dir, SEG)], { env: { ...ws.env, HOLDFAST_REPO: join(ws.dir, "nowhere") } });
    expect(noRepo.code).toBe(6);
  });

  it("several pushes of one file at once (archive_command beside the daemon's stream) leave a record whose data matches it", async () => {
    for (let round = 0; round < 4; round++) {
      const name = `00000001000000000000001${round}`;
      const path = join(ws.dir, name);
      await writeFile(path, randomBytes(4 * 1024 * 1024));
      const pushes = await Promise.all(Array.from({ length: 6 }, () => runCli(["wal-push", path], { env: ws.env })));
      for (const p of pushes) expect(p.code, p.stderr).toBe(0);
      // The record names data its own writer wrote: fetched, both hashes check out.
      const back = join(ws.dir, `back-${name}`);
      const fetched = await runCli(["wal-fetch", name, back, "--prefetch", "0"], { env: ws.env });
      expect(fetched.code, fetched.stderr).toBe(0);
      expect((await readFile(back)).equals(await readFile(path))).toBe(true);
      const record = JSON.parse(await readFile(join(walDir(), `${name}.json`), "utf8"));
      const data = (await readdir(walDir())).filter((n) => n.startsWith(`${name}.`) && n.endsWith(".zst.age"));
      expect(data).toContain(record.file.key.slice(record.file.key.lastIndexOf("/") + 1));
    }
  }, 120_000);

  it("loses nothing when a push is killed with SIGKILL: no record, the retry archives it", async () => {
    const name = "000000010000000000000002";
    const path = join(ws.dir, name);
    await writeFile(path, randomBytes(48 * 1024 * 1024));
    const child = startCli(["wal-push", path], { env: ws.env });
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    // Kill it while its data is being written (a temporary file exists in the timeline folder).
    for (let i = 0; i < 400; i++) {
      const names = await readdir(walDir()).catch(() => []);
      if (names.some((n) => n.startsWith(".tmp-"))) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill("SIGKILL");
    await exited;
    const after = await readdir(walDir());
    expect(after).not.toContain(`${name}.json`);
    const fetchEarly = await runCli(["wal-fetch", name, join(ws.dir, "early")], { env: ws.env });
    expect(fetchEarly.code).toBe(25);
    const retry = await runCli(["wal-push", path], { env: ws.env });
    expect(retry.code, retry.stderr).toBe(0);
    const back = join(ws.dir, "back");
    expect((await runCli(["wal-fetch", name, back], { env: ws.env })).code).toBe(0);
    expect((await readFile(back)).equals(await readFile(path))).toBe(true);
  });
});
