/**
 * What the PostgreSQL benchmarks share: timing a process (as the postgres OS user when asked) under
 * /usr/bin/time, folders that user owns, and a pgBackRest stanza for the peer comparison.
 */
import { spawn } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PgCluster } from "../test/support/pg-cluster.js";

const asRoot = process.getuid?.() === 0;

export interface Timed { seconds: number; rssMb: number; out: string }

/** Run argv (as the postgres user when asked and we are root) under /usr/bin/time. */
export function timed(argv: string[], options: { asPostgres?: boolean; env?: Record<string, string> } = {}): Promise<Timed> {
  const inner = ["/usr/bin/time", "-f", "@@TIME %e %M", ...argv];
  const full = options.asPostgres && asRoot ? ["runuser", "-u", "postgres", "--", "/usr/bin/env", ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`), ...inner] : inner;
  return new Promise((res, rej) => {
    const child = spawn(full[0]!, full.slice(1), { env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"], cwd: "/" });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("close", (code) => {
      const m = /@@TIME ([\d.]+) (\d+)/.exec(out);
      if (code !== 0 || !m) return rej(new Error(`${argv.join(" ")} failed (${code}): ${out.slice(-2000)}`));
      res({ seconds: Number(m[1]), rssMb: Number(m[2]) / 1024, out });
    });
  });
}

export function line(name: string, t: Timed, extra = ""): void {
  console.log(`${name}: ${t.seconds.toFixed(2)} s, peak RSS ${t.rssMb.toFixed(0)} MiB${extra}`);
}

export async function ownedDir(base: string, name: string): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (asRoot) await chown(dir, await uidOf("postgres"), await gidOf("postgres"));
  return dir;
}
const uidOf = async (u: string) => Number((await timed(["id", "-u", u])).out.split("\n")[0]);
const gidOf = async (u: string) => Number((await timed(["id", "-g", u])).out.split("\n")[0]);

function pgbackrestConf(dir: string, c: PgCluster, stanza: string, compress: string, extra: string[]): string {
  return [
    "[global]", `repo1-path=${dir}/repo`, `log-path=${dir}/log`, `lock-path=${dir}/lock`, `spool-path=${dir}/spool`,
    `compress-type=${compress}`, "compress-level=3", "process-max=2", "start-fast=y", "archive-check=n", "log-level-console=warn", "log-level-file=off", ...extra,
    `[${stanza}]`, `pg1-path=${c.dataDir}`, `pg1-socket-path=${c.socketDir}`, `pg1-port=${c.port}`, `pg1-user=${c.superuser}`, "",
  ].join("\n");
}

/** extra: more [global] settings (archive-async=y, …). */
export async function pgbackrest(base: string, c: PgCluster, stanza: string, compress: string, extra: string[] = []): Promise<{ conf: string; dir: string }> {
  const dir = await ownedDir(base, `pgbr-${stanza}-${compress}`);
  for (const sub of ["repo", "log", "lock", "spool"]) await ownedDir(dir, sub);
  const conf = join(dir, "pgbackrest.conf");
  await writeFile(conf, pgbackrestConf(dir, c, stanza, compress, extra), { mode: 0o644 });
  await timed(["pgbackrest", `--config=${conf}`, `--stanza=${stanza}`, "stanza-create"], { asPostgres: true });
  return { conf, dir };
}


/** A bench folder (0755, so PostgreSQL's OS user passes through) with a repository in a work folder the server's user owns. */
export async function benchRepository(prefix: string, cli: string): Promise<{ base: string; work: string; repo: string; env: Record<string, string> }> {
  const base = await mkdtemp(join(tmpdir(), prefix));
  await chmod(base, 0o755);
  const work = await ownedDir(base, "work");
  const repo = join(work, "repo");
  const pass = join(work, "passphrase");
  await writeFile(pass, "bench passphrase\n", { mode: 0o600 });
  const env = { HOLDFAST_REPO: repo, HOLDFAST_PASSPHRASE_FILE: pass, HOLDFAST_TMPDIR: work, HOLDFAST_LOG_LEVEL: "warn" };
  await timed(["node", cli, "repo", "init", repo], { env });
  await timed(["chown", "-R", "postgres:postgres", work]);
  return { base, work, repo, env };
}
