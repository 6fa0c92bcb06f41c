import { execFileSync, spawn } from "node:child_process";
import { chmod, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { archiveCommand } from "../../dist/commands/setup-archiving.js";
import type { Settings } from "../../dist/config/load.js";
import { CLI, type Workspace } from "./cli.js";
import { postgresBinDir, startCluster, type PgCluster } from "./pg-cluster.js";

/** Tests run as root; PostgreSQL (and so archive_command) runs as this user. */
export const SERVER_USER = "postgres";
const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * The classic pitfall, handled the way a user would: the repository, the passphrase file and the
 * folder restores go into must be reachable by the server's OS user.
 */
export async function shareWithServer(ws: Workspace): Promise<void> {
  if (!isRoot()) return;
  execFileSync("chown", ["-R", `${SERVER_USER}:${SERVER_USER}`, ws.dir]);
  await chmod(ws.dir, 0o700);
}

/** `holdfast wal-push %p`, or the very line setup-archiving recommends (the shell's marker test, then the lean entry point). */
export function archiveCommandFor(ws: Workspace, lean = false): string {
  if (lean) return archiveCommand({ repo: ws.repo } as Settings);
  return `"${process.execPath}" "${CLI}" wal-push "%p" --repo "${ws.repo}"`;
}

/** A cluster with 1 MiB WAL segments (fast to archive) archiving into ws's repository. */
export function startArchivingCluster(ws: Workspace, options: { lean?: boolean } = {}): Promise<PgCluster> {
  return startCluster({
    initdbArgs: ["--wal-segsize=1"],
    conf: {
      wal_level: "replica",
      archive_mode: "on",
      archive_command: `'${archiveCommandFor(ws, options.lean).replace(/'/g, "''")}'`,
      max_wal_senders: "4",
    },
  });
}

/** Lose one archived segment: its record and its data, as a damaged or pruned-by-hand archive would. */
export async function loseArchivedSegment(ws: Workspace, segment: string): Promise<void> {
  const record = join(ws.repo, "wal", segment.slice(0, 8), `${segment}.json`);
  const data = (JSON.parse(await readFile(record, "utf8")) as { file: { key: string } }).file.key;
  await rm(record);
  await rm(join(ws.repo, data));
}

/** Force the current segment out and wait until the archiver has pushed it (or fail). */
export async function switchAndWaitArchived(query: (sql: string) => Promise<Record<string, unknown>[]>, timeoutMs = 60_000): Promise<string> {
  const [row] = await query("SELECT pg_walfile_name(pg_switch_wal()) AS seg");
  const seg = String(row!.seg);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [a] = await query("SELECT last_archived_wal, last_failed_wal, failed_count FROM pg_stat_archiver");
    const last = a!.last_archived_wal ? String(a!.last_archived_wal) : "";
    if (last.length >= 24 && last.slice(0, 24) >= seg) return seg;
    if (Date.now() > deadline) throw new Error(`segment ${seg} not archived in time (archiver: ${JSON.stringify(a)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface RestoredServer {
  /** One query on `database` (default postgres). */
  query<T = Record<string, unknown>>(sql: string, database?: string): Promise<T[]>;
  stop(): Promise<void>;
}

export function runAsServerUser(args: string[]): Promise<{ code: number; out: string }> {
  const [cmd, argv] = isRoot() ? ["runuser", ["-u", SERVER_USER, "--", ...args]] : [args[0]!, args.slice(1)];
  return new Promise((resolve) => {
    const child = spawn(cmd as string, argv as string[], { stdio: ["ignore", "pipe", "pipe"], cwd: "/" });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("close", (code) => resolve({ code: code ?? 1, out }));
  });
}

/** Start a restored data directory (socket inside it, no TCP) the way a user would: pg_ctl start. */
export async function startRestored(dataDir: string): Promise<RestoredServer> {
  const pgCtl = join(postgresBinDir(), "pg_ctl");
  const port = 20000 + Math.floor(Math.random() * 20000);
  const o = `-c port=${port} -c listen_addresses='' -c unix_socket_directories='${dataDir}'`;
  const started = await runAsServerUser([pgCtl, "-D", dataDir, "-l", join(dataDir, "test-server.log"), "-o", o, "-w", "-t", "60", "start"]);
  if (started.code !== 0) throw new Error(`restored cluster did not start: ${started.out}`);
  return {
    async query<T>(sql: string, database = "postgres") {
      const client = new pg.Client({ host: dataDir, port, user: SERVER_USER, database });
      await client.connect();
      try {
        return (await client.query(sql)).rows as T[];
      } finally {
        await client.end();
      }
    },
    async stop() {
      await runAsServerUser([pgCtl, "-D", dataDir, "-m", "fast", "-w", "stop"]);
    },
  };
}
