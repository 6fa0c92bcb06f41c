import { chown, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HoldfastError } from "../errors.js";
import { findServerTool, ownerPrefix, runServerCommand } from "../engines/postgres/physical/server-tools.js";
import { userName } from "../engines/postgres/tools.js";

/** Where a drill's cluster listens and logs, inside the drill's own scratch folder. */
export const CLUSTER_SOCKET_DIR = "socket";
const HBA_FILE = "drill_hba.conf";
/** Inside the socket folder: the server's user can write there (the scratch folder is ours). */
const LOG_FILE = "server.log";

export interface RunningCluster {
  socketDir: string;
  port: number;
  /** The OS user the server runs as (the data directory's owner): also a role name to try. */
  osUser?: string;
  stop(): Promise<void>;
}

/**
 * Start a restored data directory for the drill's checks: listening only on a unix socket in a
 * folder of the drill's own (no TCP, so no port can collide or be reached from outside), with an
 * hba file that lets local socket connections in (the folder is reachable only by us and the
 * server's user), archiving off (a drill never writes into production's archive).
 */
export async function startCluster(dataDir: string, scratchDir: string): Promise<RunningCluster> {
  const owner = await stat(dataDir);
  const major = Number((await readFile(join(dataDir, "PG_VERSION"), "utf8")).trim());
  const socketDir = join(scratchDir, CLUSTER_SOCKET_DIR);
  await mkdir(socketDir, { mode: 0o700 });
  await chown(socketDir, owner.uid, owner.gid);
  const hba = join(scratchDir, HBA_FILE);
  await writeFile(hba, "local all all trust\n", { mode: 0o600 });
  await chown(hba, owner.uid, owner.gid);
  const port = 5432;
  const options = [
    "-c listen_addresses=''",
    `-c unix_socket_directories='${socketDir}'`,
    `-c port=${port}`,
    `-c hba_file='${hba}'`,
    "-c archive_mode=off",
    "-c logging_collector=off",
  ].join(" ");
  const asOwner = await ownerPrefix(owner.uid);
  const pgCtl = findServerTool("pg_ctl", major);
  const started = await runServerCommand([...asOwner, pgCtl, "-D", dataDir, "-l", join(socketDir, LOG_FILE), "-o", options, "-w", "-t", "120", "start"]);
  const cluster: RunningCluster = { socketDir, port, osUser: await userName(owner.uid), stop: () => stopCluster(dataDir) };
  if (started.code !== 0) {
    await cluster.stop();
    const log = await readFile(join(socketDir, LOG_FILE), "utf8").catch(() => "");
    const fatal = log.split("\n").filter((l) => /FATAL|PANIC/.test(l)).join("; ");
    throw new HoldfastError("RESTORE_FAILED", `the restored cluster in ${dataDir} did not start: ${fatal || started.stderr.trim()}`);
  }
  return cluster;
}

/** Stop a server running on dataDir, if one is (immediate: a drill's copy is thrown away). Never throws. */
export async function stopCluster(dataDir: string): Promise<void> {
  const owner = await stat(dataDir).catch(() => undefined);
  if (!owner) return;
  const pidFile = await readFile(join(dataDir, "postmaster.pid"), "utf8").catch(() => "");
  if (!pidFile) return;
  const major = Number((await readFile(join(dataDir, "PG_VERSION"), "utf8").catch(() => "0")).trim()) || undefined;
  const asOwner = await ownerPrefix(owner.uid).catch(() => []);
  const pgCtl = findServerTool("pg_ctl", major);
  await runServerCommand([...asOwner, pgCtl, "-D", dataDir, "-m", "immediate", "-w", "-t", "60", "stop"]).catch(() => undefined);
}
