import { execFile } from "node:child_process";
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { fingerprint, seedApp } from "../support/pg-data.js";
import { startS3, type S3Server } from "../support/s3.js";
import { countRows, createDatabase } from "../support/sqlite.js";

const exec = promisify(execFile);
const SECONDARY = "s3://offsite/copies/app";

let ws: Workspace;
let pg: PgCluster;
let server: S3Server;
let env: Record<string, string>;
let db: string;
let newPassphraseFile: string;

beforeAll(async () => {
  [ws, pg, server] = await Promise.all([workspace(), startCluster(), startS3(["offsite"])]);
  await seedApp(pg, "app", 300);
  db = join(ws.dir, "app.db");
  createDatabase(db, 500);
  const config = join(ws.dir, "holdfast.yaml");
  await writeFile(config, `repo: ${ws.repo}\ncopy_to: ${SECONDARY}\n`);
  newPassphraseFile = join(ws.dir, "new-passphrase.txt");
  await writeFile(newPassphraseFile, "a much longer passphrase for the second year\n", { mode: 0o600 });
  env = { ...ws.env, ...server.env, HOLDFAST_CONFIG: config };
});
afterAll(async () => {
  await Promise.all([pg?.destroy(), server?.stop(), ws?.cleanup()]);
});

async function ok(args: string[], extra: Record<string, string | undefined> = {}): Promise<string> {
  const r = await runCli(args, { env: { ...env, ...extra } });
  expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are read as loose JSON in assertions
async function backup(source: string, extra: Record<string, string | undefined> = {}): Promise<Record<string, any>> {
  return JSON.parse(await ok(["backup", source, "--json"], extra));
}

async function dataFile(id: string): Promise<string> {
  const folder = join(ws.repo, "backups", id);
  return join(folder, (await readdir(folder)).find((n) => n.endsWith(".age"))!);
}

/** Decrypt and decompress a stored SQLite backup with stock age and zstd only. */
async function byHand(identityFile: string, id: string, out: string): Promise<void> {
  await exec("bash", ["-o", "pipefail", "-c", `age -d -i "${identityFile}" "${await dataFile(id)}" | zstd -d -q -o "${out}"`]);
}

describe("key passphrase and key rotate on a repository with an S3 offsite copy", () => {
  it("changes the passphrase, rotates the key, and every old and new backup still verifies deeply and restores", async () => {
    const NEW = { HOLDFAST_PASSPHRASE_FILE: newPassphraseFile };
    const sqliteOld = await backup(`sqlite:${db}`);
    const pgOld = await backup(pg.url("app"));
    const oldKey = sqliteOld.files[0].keyId as string;
    expect(oldKey).toMatch(/^[0-9a-f]{12}$/);
    expect(pgOld.files[0].keyId).toBe(oldKey);

    // 1. Passphrase change: the key file is sealed again (primary and the copy_to secondary), nothing else.
    const before = await stat(await dataFile(sqliteOld.id));
    const changed = await ok(["key", "passphrase", "--new-passphrase-file", newPassphraseFile]);
    expect(changed).toMatch(/changed the passphrase of .*the old passphrase opens nothing any more/);
    expect(changed).toContain(`offsite copy ${SECONDARY}: key file updated`);
    expect((await stat(await dataFile(sqliteOld.id))).mtimeMs).toBe(before.mtimeMs);
    const oldIdentity = join(ws.dir, "identity-before-rotation.txt");
    await ok(["key", "export", "--out", oldIdentity], NEW);

    // 2. Rotation: a new key for new backups; the old one stays in the key file.
    const rotated = await ok(["key", "rotate", "--json"], NEW);
    const newKey = JSON.parse(rotated).currentKey.id as string;
    expect(newKey).not.toBe(oldKey);
    expect(JSON.parse(rotated).keys).toBe(2);
    expect(JSON.parse(rotated).copies).toEqual([{ location: SECONDARY, status: "updated" }]);
    const sqliteNew = await backup(`sqlite:${db}`);
    const pgNew = await backup(pg.url("app"));
    expect(sqliteNew.files[0].keyId).toBe(newKey);
    expect(pgNew.files[0].keyId).toBe(newKey);

    // show and list --json name the key; key list needs no passphrase.
    expect(await ok(["show", sqliteOld.id], NEW)).toContain(`age-encrypted to key ${oldKey}`);
    expect(await ok(["show", pgNew.id], NEW)).toContain(`age-encrypted to key ${newKey}`);
    const listed = JSON.parse(await ok(["list", "--json"])).backups as { id: string; files: { keyId: string }[] }[];
    expect(Object.fromEntries(listed.map((b) => [b.id, b.files[0]!.keyId]))).toEqual({ [sqliteOld.id]: oldKey, [pgOld.id]: oldKey, [sqliteNew.id]: newKey, [pgNew.id]: newKey });
    const keys = JSON.parse(await ok(["key", "list", "--json"], { HOLDFAST_PASSPHRASE_FILE: undefined })).keys as { id: string; current: boolean; backups: number; retiredAt?: string }[];
    expect(keys.map((k) => [k.id, k.current, k.backups, Boolean(k.retiredAt)])).toEqual([
      [oldKey, false, 2, true],
      [newKey, true, 2, false],
    ]);

    // Every backup, old key and new, verifies deeply with the new passphrase; the S3 copy decrypts too.
    const all = [sqliteOld.id, pgOld.id, sqliteNew.id, pgNew.id].sort();
    const deep = JSON.parse(await ok(["verify", "--all", "--deep", "--json"], NEW));
    expect(deep.backups.map((b: { id: string; ok: boolean; deep: { ok: boolean } }) => [b.id, b.ok && b.deep.ok]).sort()).toEqual(all.map((id) => [id, true]));
    const there = JSON.parse(await ok(["verify", "--all", "--json", "--repo", SECONDARY], NEW));
    expect(there.backups.map((b: { id: string; ok: boolean; files: { level: string }[] }) => [b.id, b.ok, b.files[0]!.level]).sort()).toEqual(all.map((id) => [id, true, "content"]));
    // … and restores.
    for (const m of [sqliteOld, sqliteNew]) {
      await ok(["restore", m.id, "--to", join(ws.dir, `restored-${m.id}.db`)], NEW);
      expect(countRows(join(ws.dir, `restored-${m.id}.db`), "items")).toBe(500);
    }
    for (const [m, target] of [[pgOld, "from_old_key"], [pgNew, "from_new_key"]] as const) {
      await ok(["restore", m.id, "--to", pg.url(target)], NEW);
      expect(await fingerprint(pg, target, "public.orders")).toBe(await fingerprint(pg, "app", "public.orders"));
    }

    // The old passphrase opens nothing: not the primary, not the offsite copy.
    for (const repo of [ws.repo, SECONDARY]) {
      const r = await runCli(["verify", sqliteOld.id, "--repo", repo], { env });
      expect(r.code, r.stderr).toBe(8);
      expect(errorLine(r)).toMatch(/^wrong passphrase for /);
    }
    expect((await runCli(["key", "export", "--out", join(ws.dir, "nope.txt")], { env })).code).toBe(8);

    // The identity exported before the rotation opens old backups only; a fresh export opens both.
    await byHand(oldIdentity, sqliteOld.id, join(ws.dir, "old-by-hand.db"));
    expect(countRows(join(ws.dir, "old-by-hand.db"), "items")).toBe(500);
    await expect(byHand(oldIdentity, sqliteNew.id, join(ws.dir, "never.db"))).rejects.toThrow(/no identity matched/);
    const allIdentities = join(ws.dir, "identity-all.txt");
    expect(await ok(["key", "export", "--out", allIdentities], NEW)).toContain("wrote the 2 identities of");
    for (const m of [sqliteOld, sqliteNew]) {
      await byHand(allIdentities, m.id, join(ws.dir, `by-hand-${m.id}.db`));
      expect(countRows(join(ws.dir, `by-hand-${m.id}.db`), "items")).toBe(500);
    }
  });

  it("archived WAL records name their key, and wal-fetch reads files of every key", async () => {
    const NEW = { HOLDFAST_PASSPHRASE_FILE: newPassphraseFile };
    const history = join(ws.dir, "00000002.history");
    await writeFile(history, "1\t0/3000000\tno recovery target specified\n");
    await ok(["wal-push", history], NEW);
    await ok(["key", "rotate"], NEW);
    const fetched = join(ws.dir, "fetched.history");
    await ok(["wal-fetch", "00000002.history", fetched], NEW);
    expect(await exec("cat", [fetched]).then((r) => r.stdout)).toContain("no recovery target specified");
    const record = JSON.parse(await exec("cat", [join(ws.repo, "wal/00000002/00000002.history.json")]).then((r) => r.stdout));
    const keys = JSON.parse(await ok(["key", "list", "--json"])).keys as { id: string; current: boolean }[];
    expect(keys).toHaveLength(3);
    expect(record.file.keyId).toBe(keys[1]!.id);
    expect(keys[2]!.current).toBe(true);
  });
});
