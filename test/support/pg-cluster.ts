import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { appendFile, chmod, chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { collect } from "./process.js";

/**
 * A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir, random port, unix socket
 * in that dir with trust auth. When the tests run as root the server runs as the unprivileged
 * `postgres` OS user (PostgreSQL refuses to run as root).
 */
export interface PgCluster {
  port: number;
  socketDir: string;
  dataDir: string;
  binDir: string;
  /** Database superuser name. */
  superuser: string;
  /** postgres://<superuser>@localhost/<db>?host=<socketDir>&port=<port> (unix socket, trust). */
  url(db?: string): string;
  query<T = Record<string, unknown>>(sql: string, db?: string): Promise<T[]>;
  /** Fast stop; keeps the data dir. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stop and remove everything. */
  destroy(): Promise<void>;
  /** Runs as the OS user owning the cluster (runuser when root). */
  runAsOwner(cmd: string, args: string[], env?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }>;
}

export interface ClusterOptions {
  /** Extra postgresql.conf settings (override the defaults below). */
  conf?: Record<string, string>;
  /** pg_hba.conf lines placed before the defaults (first match wins). */
  hba?: string[];
  binDir?: string;
  initdbArgs?: string[];
}

const OWNER = "postgres";
const live = new Set<{ binDir: string; dataDir: string; base: string }>();
let exitHookInstalled = false;

/** Newest /usr/lib/postgresql/<major>/bin. */
export function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root) ? readdirSync(root).filter((d) => existsSync(join(root, d, "bin", "initdb"))) : [];
  majors.sort((a, b) => Number(b) - Number(a));
  if (majors.length === 0) throw new Error("no PostgreSQL server found under /usr/lib/postgresql (run scripts/test.sh)");
  return join(root, majors[0]!, "bin");
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function ensureOwnerUser(): void {
  if (!isRoot()) return;
  try {
    execFileSync("id", ["-u", OWNER], { stdio: "ignore" });
  } catch {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OWNER], { stdio: "ignore" });
  }
}

function ownerIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync("id", ["-u", OWNER]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", OWNER]).toString().trim());
  return { uid, gid };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  if (!isRoot()) return collect(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env } });
  // runuser resets parts of the environment: pass variables explicitly through env(1).
  const vars = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`);
  return collect("runuser", ["-u", OWNER, "--", "/usr/bin/env", ...vars, cmd, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env } });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", stopAllNow);
  // Interrupted runs (Ctrl-C, a killed worker) must not leave servers behind either.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      stopAllNow();
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

function stopAllNow(): void {
  for (const c of live) {
    try {
      const args = ["-D", c.dataDir, "-m", "immediate", "-w", "stop"];
      if (isRoot()) execFileSync("runuser", ["-u", OWNER, "--", join(c.binDir, "pg_ctl"), ...args], { stdio: "ignore", cwd: c.base });
      else execFileSync(join(c.binDir, "pg_ctl"), args, { stdio: "ignore" });
    } catch {
      /* already stopped */
    }
    rmSync(c.base, { recursive: true, force: true });
  }
  live.clear();
}

export async function startCluster(options: ClusterOptions = {}): Promise<PgCluster> {
  ensureOwnerUser();
  installExitHook();
  const binDir = options.binDir ?? postgresBinDir();
  const base = await mkdtemp(join(tmpdir(), "hf-pg-"));
  await chmod(base, 0o700);
  if (isRoot()) {
    const { uid, gid } = ownerIds();
    await chown(base, uid, gid);
  }
  const dataDir = join(base, "data");
  const logFile = join(base, "server.log");
  const port = await freePort();
  const superuser = isRoot() ? OWNER : userInfo().username === OWNER ? OWNER : "postgres";
  const entry = { binDir, dataDir, base };
  live.add(entry);
  const sh = (cmd: string, args: string[], env?: Record<string, string>) => run(cmd, args, { env, cwd: base });

  const init = await sh(join(binDir, "initdb"), [
    "-D", dataDir, "-U", superuser, "-E", "UTF8", "--locale=C", "--no-sync",
    "--auth-local=trust", "--auth-host=scram-sha-256", ...(options.initdbArgs ?? []),
  ]);
  if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr}`);

  const conf: Record<string, string> = {
    port: String(port),
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${base}'`,
    fsync: "off",
    max_connections: "50",
    shared_buffers: "32MB",
    ...options.conf,
  };
  await appendFile(join(dataDir, "postgresql.conf"), "\n" + Object.entries(conf).map(([k, v]) => `${k} = ${v}`).join("\n") + "\n");
  const hbaPath = join(dataDir, "pg_hba.conf");
  const defaults = [
    "local all all trust",
    "local replication all trust",
    "host all all 127.0.0.1/32 scram-sha-256",
    "host replication all 127.0.0.1/32 scram-sha-256",
  ];
  await writeFile(hbaPath, [...(options.hba ?? []), ...defaults].join("\n") + "\n");

  const pgctl = join(binDir, "pg_ctl");
  const start = async () => {
    const r = await sh(pgctl, ["-D", dataDir, "-l", logFile, "-w", "-t", "60", "start"]);
    if (r.code !== 0) {
      const log = await readFile(logFile, "utf8").catch(() => "");
      throw new Error(`pg_ctl start failed: ${r.stderr}${r.stdout}\n${log}`);
    }
  };
  const stop = async () => {
    const r = await sh(pgctl, ["-D", dataDir, "-m", "fast", "-w", "-t", "60", "stop"]);
    if (r.code !== 0 && !/not running|No such file|does not exist|Is server running/i.test(r.stderr)) throw new Error(`pg_ctl stop failed: ${r.stderr}`);
  };
  await start();

  const cluster: PgCluster = {
    port,
    socketDir: base,
    dataDir,
    binDir,
    superuser,
    url: (db = "postgres") => `postgres://${superuser}@localhost/${db}?host=${base}&port=${port}`,
    async query<T>(sql: string, db = "postgres") {
      const client = new pg.Client({ host: base, port, user: superuser, database: db });
      await client.connect();
      try {
        const result = await client.query(sql);
        const last = Array.isArray(result) ? result[result.length - 1] : result;
        return (last?.rows ?? []) as T[];
      } finally {
        await client.end();
      }
    },
    stop,
    start,
    async destroy() {
      await stop().catch(() => undefined);
      live.delete(entry);
      await rm(base, { recursive: true, force: true });
    },
    runAsOwner: (cmd, args, env) => sh(cmd, args, env),
  };
  return cluster;
}
