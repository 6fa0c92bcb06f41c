/**
 * Scale: a local repository with 10,000 backups of several SQLite sources and 100,000 archived WAL
 * files, then the real CLI's list, restore latest, status, key list, wal verify, prune --dry-run,
 * check and prune, each with its
 * wall time, peak RSS and most open file descriptors (sampled from /proc every 25 ms).
 *   npx tsx bench/scale.ts     (HOLDFAST_BENCH_BACKUPS=10000, HOLDFAST_BENCH_WAL=100000, HOLDFAST_BENCH_DIR)
 * The repository is built from real backups: a few are taken with the CLI, then their stored files
 * are hard-linked (2,500 links each) and their manifests (and reservations) rewritten under new ids, one an hour back
 * in time; likewise one WAL file pushed with `wal-push` is repeated under 100,000 segment names.
 * Prints `name: value` lines; a command that fails prints its exit status and last stderr line.
 */
import { spawn, spawnSync } from "node:child_process";
import { copyFile, link, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { runCli } from "../test/support/cli.js";
import { createDatabase } from "../test/support/sqlite.js";
import { sealed } from "../src/repository/json-object.js";

const BACKUPS = Number(process.env.HOLDFAST_BENCH_BACKUPS ?? 10_000);
const WALS = Number(process.env.HOLDFAST_BENCH_WAL ?? 100_000);
const SOURCES = 4;
const root = join(process.env.HOLDFAST_BENCH_DIR ?? "/tmp/holdfast-bench", "scale");
const repo = join(root, "repo");
const cli = resolve(import.meta.dirname, "../dist/cli/main.js");
const env = { HOLDFAST_REPO: repo, HOLDFAST_PASSPHRASE_FILE: join(root, "pass.txt"), HOLDFAST_TMPDIR: root, HOLDFAST_LOG_LEVEL: "warn" };

const idFor = (d: Date) => d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");

async function must(args: string[]): Promise<string> {
  const r = await runCli(args, { env });
  if (r.code !== 0) throw new Error(`holdfast ${args.join(" ")} exited ${r.code}: ${r.stderr.slice(-600)}`);
  return r.stdout;
}

/** Copy one real backup under `count` new ids spread an hour apart, newest about now. */
async function multiplyBackups(templates: string[]): Promise<void> {
  const now = Date.now();
  const folders = await Promise.all(templates.map(async (id) => ({ id, dir: join(repo, "backups", id), names: await readdir(join(repo, "backups", id)) })));
  for (let i = 0; i < BACKUPS - templates.length; i++) {
    const t = folders[i % folders.length]!;
    const started = new Date(now - (BACKUPS - i) * 3_600_000 - 7_200_000);
    const id = idFor(started);
    const dir = join(repo, "backups", id);
    await mkdir(dir, { mode: 0o700 });
    for (const name of t.names) {
      if (name === "manifest.json" || name.startsWith("reservation")) {
        const doc = JSON.parse(await readFile(join(t.dir, name), "utf8")) as Record<string, unknown>;
        doc.id = id;
        doc.startedAt = started.toISOString();
        if ("finishedAt" in doc) doc.finishedAt = new Date(started.getTime() + Number(doc.durationMs ?? 0)).toISOString();
        if (Array.isArray(doc.files)) for (const f of doc.files as { key: string }[]) f.key = f.key.replace(t.id, id);
        await writeFile(join(dir, name), JSON.stringify(name === "manifest.json" ? sealed(doc) : doc, null, 2) + "\n", { mode: 0o600 });
      } else await link(join(t.dir, name), join(dir, name));
    }
  }
}

/** The pushed file is 8 KiB, so the archive's segment size is 8 KiB: 2^32 / 8192 segments per log id, named without gaps. */
const WAL_FILE_BYTES = 8192;
const PER_LOG = 2 ** 32 / WAL_FILE_BYTES;
const segName = (n: number) => `00000001${(Math.floor(n / PER_LOG) + 1).toString(16).toUpperCase().padStart(8, "0")}${(n % PER_LOG).toString(16).toUpperCase().padStart(8, "0")}`;

/** Push one real WAL file, then repeat its data and record under `WALS` segment names. */
async function multiplyWal(): Promise<void> {
  const first = segName(0);
  const src = join(root, first);
  await writeFile(src, Buffer.alloc(WAL_FILE_BYTES, 7), { mode: 0o600 });
  await must(["wal-push", src]);
  const tl = join(repo, "wal", "00000001");
  const names = await readdir(tl);
  const dataName = names.find((n) => n.startsWith(first) && !n.endsWith(".json"))!;
  const record = JSON.parse(await readFile(join(tl, `${first}.json`), "utf8")) as { archivedAt: string; file: { name: string; key: string } };
  const start = Date.now() - WALS * 60_000;
  for (let n = 1; n < WALS; n++) {
    const name = segName(n);
    await copyFile(join(tl, dataName), join(tl, dataName.replace(first, name))); // ext4 allows 65,000 links a file
    record.archivedAt = new Date(start + n * 60_000).toISOString();
    record.file = { ...record.file, name: record.file.name.replace(first, name), key: record.file.key.replace(first, name) };
    await writeFile(join(tl, `${name}.json`), JSON.stringify(sealed(record), null, 2) + "\n", { mode: 0o600 });
  }
}

interface Sampled {
  code: number;
  wallS: number;
  peakRssMb: number;
  maxFds: number;
  stdoutBytes: number;
  lastError: string;
}

/** Run the CLI, sampling VmHWM and the number of entries of /proc/<pid>/fd. */
function sample(args: string[], timeoutMs = 20 * 60_000): Promise<Sampled> {
  return new Promise((res, rej) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env, HOLDFAST_LOG_FORMAT: "json" }, stdio: ["ignore", "pipe", "pipe"] });
    let peakKb = 0;
    let maxFds = 0;
    let stdoutBytes = 0;
    let stderr = "";
    const timer = setInterval(() => {
      void readFile(`/proc/${child.pid}/status`, "utf8").then((s) => (peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0))), () => undefined);
      void readdir(`/proc/${child.pid}/fd`).then((fds) => (maxFds = Math.max(maxFds, fds.length)), () => undefined);
    }, 25);
    const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d: Buffer) => (stdoutBytes += d.length));
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on("error", rej);
    child.on("close", (code, signal) => {
      clearInterval(timer);
      clearTimeout(killer);
      const lastError = stderr.trim().split("\n").filter((l) => /error|Error|EMFILE|heap/.test(l)).at(-1) ?? "";
      res({ code: code ?? (signal === "SIGKILL" ? 137 : 1), wallS: (performance.now() - started) / 1000, peakRssMb: peakKb / 1024, maxFds, stdoutBytes, lastError });
    });
  });
}

function report(name: string, s: Sampled): void {
  console.log(`${name}_exit: ${s.code}`);
  console.log(`${name}_wall_s: ${s.wallS.toFixed(2)}`);
  console.log(`${name}_peak_rss_mb: ${s.peakRssMb.toFixed(0)}`);
  console.log(`${name}_max_open_fds: ${s.maxFds}`);
  if (s.code !== 0) console.log(`${name}_error: ${s.lastError.slice(0, 400)}`);
}

async function main(): Promise<void> {
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true, mode: 0o700 });
  await writeFile(env.HOLDFAST_PASSPHRASE_FILE, "scale benchmark passphrase\n", { mode: 0o600 });
  await must(["repo", "init", repo, "--scrypt-work-factor", "10"]);
  const built = performance.now();
  const sources: string[] = [];
  const templates: string[] = [];
  for (let s = 0; s < SOURCES; s++) {
    const db = join(root, `app${s}.db`);
    createDatabase(db, 200 + s);
    sources.push(`sqlite:${db}`);
    templates.push((JSON.parse(await must(["backup", `sqlite:${db}`, "--json"])) as { id: string }).id);
  }
  await multiplyBackups(templates);
  await multiplyWal();
  console.log(`backups: ${BACKUPS}`);
  console.log(`wal_files: ${WALS}`);
  console.log(`sources: ${SOURCES}`);
  console.log(`build_repository_s: ${((performance.now() - built) / 1000).toFixed(1)}`);

  const help = spawnSync(process.execPath, [cli, "restore", "--help"], { encoding: "utf8" }).stdout;
  const sourceFlag = /--source\b/.test(help) ? ["--source", sources[SOURCES - 1]!] : [];
  console.log(`restore_uses_source_flag: ${sourceFlag.length > 0}`);
  const policy = ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "12"];

  report("list", await sample(["list", "--json"]));
  report("restore_latest", await sample(["restore", "latest", "--to", join(root, "restored.db"), ...sourceFlag]));
  report("status", await sample(["status", "--json"]));
  report("key_list", await sample(["key", "list", "--json"]));
  report("wal_verify", await sample(["wal", "verify", "--json"]));
  report("prune_dry_run", await sample(["prune", "--dry-run", ...policy]));
  report("check", await sample(["check"]));
  report("prune", await sample(["prune", ...policy]));
  const after = await sample(["list", "--json"]);
  report("list_after_prune", after);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
