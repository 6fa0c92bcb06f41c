import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { access, appendFile, chmod, copyFile, mkdir, readFile, readdir, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CLI, runCli, workspace, type RunResult, type Workspace } from "../support/cli.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { SERVER_USER, shareWithServer, startArchivingCluster, startRestored } from "../support/pitr.js";

/**
 * A cluster that keeps postgresql.conf, pg_hba.conf and pg_ident.conf outside its data directory
 * (as Debian does in /etc/postgresql/<version>/<cluster>/): every physical backup records and
 * stores them, and a restore puts them, never in force, into the new data directory's
 * holdfast-original-config/. A cluster configured inside its data directory stores nothing more.
 */
const CONFIG = ["postgresql.conf", "pg_hba.conf", "pg_ident.conf", "extra.conf"];
const isRoot = process.getuid?.() === 0;

let ws: Workspace;
let cluster: PgCluster;
let ws2: Workspace;
let plain: PgCluster;
let etc: string;
const original = new Map<string, Buffer>();

interface Recorded {
  role: string;
  path: string;
  insideDataDirectory: boolean;
  sizeBytes?: number;
  sha256?: string;
  storedAs?: string;
  readFrom?: string;
}
interface Taken {
  id: string;
  files: { name: string; key: string }[];
  details: { configFiles: Recorded[]; configWarnings?: string[] };
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const warnings = (r: RunResult) => r.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40).map((l) => l.msg);
const urlAs = (user: string) => cluster.url().replace(`//${cluster.superuser}@`, `//${user}@`);
const backup = async (url: string) => {
  const r = await runCli(["backup", "--type", "physical", url, "--json"], { env: ws.env });
  expect(r.code, r.stderr).toBe(0);
  return { r, m: JSON.parse(r.stdout) as Taken };
};

/** Move the configuration out of the data directory and restart the server with -c config_file, as pg_ctlcluster does. */
async function moveConfigOut(c: PgCluster): Promise<string> {
  await c.stop();
  const dir = join(c.socketDir, "etc", "main");
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const name of CONFIG.slice(0, 3)) await rename(join(c.dataDir, name), join(dir, name));
  await appendFile(join(dir, "pg_ident.conf"), `holdfast-map ${SERVER_USER} ${SERVER_USER}\n`);
  await writeFile(join(dir, "extra.conf"), "work_mem = '7MB'\n");
  await appendFile(join(dir, "postgresql.conf"), [`data_directory = '${c.dataDir}'`, `hba_file = '${dir}/pg_hba.conf'`, `ident_file = '${dir}/pg_ident.conf'`, `include '${dir}/extra.conf'`, ""].join("\n"));
  if (isRoot) execFileSync("chown", ["-R", `${SERVER_USER}:${SERVER_USER}`, join(c.socketDir, "etc")]);
  const started = await c.runAsOwner(join(c.binDir, "pg_ctl"), ["-D", c.dataDir, "-o", `-c config_file=${dir}/postgresql.conf`, "-l", join(c.socketDir, "server.log"), "-w", "-t", "60", "start"]);
  if (started.code !== 0) throw new Error(`cluster did not start with its configuration outside: ${started.stderr}${started.stdout}`);
  return dir;
}

beforeAll(async () => {
  const configuredOutside = async () => {
    ws = await workspace();
    await shareWithServer(ws);
    cluster = await startArchivingCluster(ws);
    etc = await moveConfigOut(cluster);
    for (const name of CONFIG) original.set(name, await readFile(join(etc, name)));
    await cluster.query(`CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 50);
      CREATE ROLE settings_reader LOGIN REPLICATION; GRANT pg_read_all_settings TO settings_reader;
      CREATE ROLE plain_replicator LOGIN REPLICATION;`);
  };
  // Each cluster archives into a repository of its own (both are on timeline 1).
  const configuredInside = async () => {
    ws2 = await workspace();
    await shareWithServer(ws2);
    plain = await startArchivingCluster(ws2);
  };
  await Promise.all([configuredOutside(), configuredInside()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([cluster?.destroy(), plain?.destroy()]);
  await Promise.all([ws?.cleanup(), ws2?.cleanup()]);
});

describe("configuration kept outside the data directory", () => {
  let id: string;

  it("is recorded and stored with the base backup, byte for byte, through compression and encryption", async () => {
    expect(await cluster.query("SHOW config_file")).toEqual([{ config_file: join(etc, "postgresql.conf") }]);
    const { r, m } = await backup(cluster.url());
    id = m.id;
    expect(warnings(r)).toEqual([]);
    expect(m.files.map((f) => f.name)).toEqual(["base", ...CONFIG.map((n) => `config-${n}`)]);
    expect(m.files[0]!.key).toBe(`backups/${id}/base.tar.zst.age`);
    expect(m.details.configWarnings).toBeUndefined();
    expect(m.details.configFiles).toEqual(
      CONFIG.map((name, i) => ({
        role: ["config_file", "hba_file", "ident_file", "include"][i],
        path: join(etc, name),
        insideDataDirectory: false,
        sizeBytes: original.get(name)!.length,
        sha256: sha256(original.get(name)!),
        storedAs: `config-${name}`,
        readFrom: "server",
      })),
    );
    const identity = join(ws.dir, "identity.txt");
    const exported = await runCli(["key", "export", "--out", identity], { env: ws.env });
    expect(exported.code, exported.stderr).toBe(0);
    for (const name of CONFIG) {
      const key = m.files.find((f) => f.name === `config-${name}`)!.key;
      expect(key).toBe(`backups/${id}/config-${name}.zst.age`);
      const plain = execFileSync("sh", ["-c", 'age -d -i "$1" "$2" | zstd -d -q', "sh", identity, join(ws.repo, key)]);
      expect(plain.equals(original.get(name)!), name).toBe(true);
    }
    const shown = await runCli(["show", id], { env: ws.env });
    expect(shown.stdout).toContain(`hba_file     ${join(etc, "pg_hba.conf")}  stored as config-pg_hba.conf`);
    expect(shown.stdout).not.toContain("WARNING");
    const verified = await runCli(["verify", id, "--json"], { env: ws.env });
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout).backups[0].files).toHaveLength(5);
  });

  it("is read from this host's files when the role may not read server files; what it cannot read is said, never silent", async () => {
    // Run as the server's OS user, who owns the files, with one made unreadable (the server has it loaded).
    const ident = join(etc, "pg_ident.conf");
    const mode = (await stat(ident)).mode & 0o777;
    await chmod(ident, 0);
    await shareWithServer(ws); // the repository as well: the backup above was written by root
    let r: RunResult;
    try {
      r = await cluster.runAsOwner(process.execPath, [CLI, "backup", "--type", "physical", urlAs("settings_reader"), "--json"], { ...ws.env, HOLDFAST_LOG_FORMAT: "json" });
    } finally {
      await chmod(ident, mode);
    }
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout) as Taken;
    expect(m.details.configFiles.map((f) => [f.role, f.readFrom, f.sha256, f.storedAs])).toEqual([
      ["config_file", "local", sha256(original.get("postgresql.conf")!), "config-postgresql.conf"],
      ["hba_file", "local", sha256(original.get("pg_hba.conf")!), "config-pg_hba.conf"],
      ["ident_file", undefined, undefined, undefined],
    ]);
    expect(m.files.map((f) => f.name)).toEqual(["base", "config-postgresql.conf", "config-pg_hba.conf"]);
    const unread = `configuration outside the data directory not stored, it could not be read: ${ident} (permission denied`;
    // Without pg_file_settings the included file is not found.
    const includes = `${join(etc, "postgresql.conf")} includes other files, which were not stored`;
    expect(m.details.configWarnings).toEqual([expect.stringContaining(unread), expect.stringContaining(includes)]);
    expect(m.details.configWarnings![0]).toContain("locally: EACCES");
    expect(warnings(r)).toEqual(m.details.configWarnings);
    const shown = (await runCli(["show", m.id], { env: ws.env })).stdout;
    expect(shown).toContain(`WARNING ${unread}`);
    expect(shown).toContain(`WARNING ${includes}`);
    expect(shown).toMatch(/ident_file +\S+pg_ident\.conf {2}NOT STORED/);
  });

  it("a role that cannot even see the settings still gets its backup, with a warning in the log and in show", async () => {
    const { r, m } = await backup(urlAs("plain_replicator"));
    expect(m.files.map((f) => f.name)).toEqual(["base"]);
    expect(m.details.configFiles).toEqual([]);
    expect(warnings(r)).toEqual([expect.stringMatching(/^configuration files not recorded: where they live is unknown \(.*pg_read_all_settings.*\).*not in this backup/)]);
    expect((await runCli(["show", m.id], { env: ws.env })).stdout).toMatch(/WARNING configuration files not recorded/);
  });

  it("a restore puts the originals, 0600, into holdfast-original-config/ and starts on its own settings, leaving production alone", async () => {
    const dir = join(ws.dir, "restored");
    const r = await runCli(["restore", id, "--type", "physical", "--to", dir, "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const folder = join(dir, "holdfast-original-config");
    const result = JSON.parse(r.stdout);
    expect(result.originalConfig).toEqual({ folder, files: CONFIG.map((n, i) => ({ role: ["config_file", "hba_file", "ident_file", "include"][i], originalPath: join(etc, n), path: join(folder, n) })) });
    // The same lines the text output prints under its headline.
    expect(result.notes).toContainEqual(expect.stringMatching(new RegExp(`^original configuration in ${folder}: postgresql\\.conf \\(was ${join(etc, "postgresql.conf")}\\), .*not in force.*copy what you need into ${dir}/postgresql\\.conf`)));
    expect(result.notes).toContainEqual(expect.stringMatching(/^created minimal postgresql\.conf and pg_hba\.conf/));
    expect((await stat(folder)).mode & 0o777).toBe(0o700);
    for (const name of CONFIG) {
      const s = await stat(join(folder, name));
      expect(s.mode & 0o777, name).toBe(0o600);
      expect((await readFile(join(folder, name))).equals(original.get(name)!), name).toBe(true);
    }
    expect(await readFile(join(folder, "README.holdfast"), "utf8")).toContain(`pg_hba.conf  was  ${join(etc, "pg_hba.conf")}  (hba_file)`);
    // The copy starts with the minimal configuration, not production's (its data_directory, port, hba_file).
    const conf = await readFile(join(dir, "postgresql.conf"), "utf8");
    expect(conf).toContain("created by holdfast restore");
    expect(conf).not.toContain(cluster.dataDir);
    // What the notes say to do: take what this copy needs from the originals (here: their trust lines).
    await copyFile(join(folder, "pg_hba.conf"), join(dir, "pg_hba.conf"));
    const server = await startRestored(dir);
    try {
      const [row] = await server.query<{ n: number; conf: string; port: number }>("SELECT count(*)::int AS n, conf, port FROM t, (SELECT current_setting('config_file') AS conf, current_setting('port')::int AS port) s GROUP BY conf, port");
      expect(row).toMatchObject({ n: 50, conf: join(dir, "postgresql.conf") });
      expect(row!.port).not.toBe(cluster.port);
    } finally {
      await server.stop();
    }
    for (const name of CONFIG) expect((await readFile(join(etc, name))).equals(original.get(name)!), name).toBe(true);
    expect(await cluster.query("SELECT count(*)::int AS n FROM t")).toEqual([{ n: 50 }]);
  });
});

describe("configuration inside the data directory", () => {
  it("is recorded as part of the base backup: nothing more stored, no warning, nothing more restored", async () => {
    const b = await runCli(["backup", "--type", "physical", plain.url(), "--json"], { env: ws2.env });
    expect(b.code, b.stderr).toBe(0);
    const m = JSON.parse(b.stdout) as Taken;
    expect(warnings(b)).toEqual([]);
    expect(m.files.map((f) => f.name)).toEqual(["base"]);
    expect(m.details.configWarnings).toBeUndefined();
    expect(m.details.configFiles.map((f) => [f.role, f.path, f.insideDataDirectory, f.storedAs])).toEqual([
      ["config_file", join(plain.dataDir, "postgresql.conf"), true, undefined],
      ["hba_file", join(plain.dataDir, "pg_hba.conf"), true, undefined],
      ["ident_file", join(plain.dataDir, "pg_ident.conf"), true, undefined],
    ]);
    const dir = join(ws2.dir, "restored");
    const r = await runCli(["restore", "--type", "physical", "--to", dir], { env: ws2.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/configuration|created minimal/);
    expect(warnings(r)).toEqual([]);
    await expect(access(join(dir, "holdfast-original-config"))).rejects.toThrow();
    expect(await readdir(dir)).toContain("postgresql.conf");
  });

  it("an hba_file outside a postgresql.conf kept inside is pointed at the restored original: the copy never needs production's", async () => {
    const outside = join(ws2.dir, "etc-hba");
    await mkdir(outside, { mode: 0o755 });
    await copyFile(join(plain.dataDir, "pg_hba.conf"), join(outside, "pg_hba.conf"));
    if (isRoot) execFileSync("chown", ["-R", `${SERVER_USER}:${SERVER_USER}`, outside]);
    await appendFile(join(plain.dataDir, "postgresql.conf"), `hba_file = '${outside}/pg_hba.conf'\n`);
    await plain.stop();
    await plain.start();
    const b = await runCli(["backup", "--type", "physical", plain.url(), "--json"], { env: ws2.env });
    expect(b.code, b.stderr).toBe(0);
    const m = JSON.parse(b.stdout) as Taken;
    expect(m.files.map((f) => f.name)).toEqual(["base", "config-pg_hba.conf"]);
    // As on another host: production's hba file is not there while the copy recovers and starts.
    await rename(join(outside, "pg_hba.conf"), join(outside, "pg_hba.conf.away"));
    try {
      const dir = join(ws2.dir, "restored-redirected");
      const r = await runCli(["restore", m.id, "--to", dir, "--json"], { env: ws2.env });
      expect(r.code, r.stderr).toBe(0);
      const placed = join(dir, "holdfast-original-config", "pg_hba.conf");
      expect((JSON.parse(r.stdout) as { notes: string[] }).notes).toContain(`hba_file now names ${placed} (the original named ${join(outside, "pg_hba.conf")})`);
      const server = await startRestored(dir);
      try {
        expect(await server.query("SELECT current_setting('hba_file') AS hba")).toEqual([{ hba: placed }]);
      } finally {
        await server.stop();
      }
    } finally {
      await rename(join(outside, "pg_hba.conf.away"), join(outside, "pg_hba.conf"));
    }
  });
});
