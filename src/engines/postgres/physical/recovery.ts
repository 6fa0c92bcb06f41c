import { chown, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HoldfastError } from "../../../errors.js";
import { findServerTool, ownerPrefix, runServerCommand } from "./server-tools.js";
import { isLsn, parseLsn } from "../../../wal/names.js";

export const RECOVERY_LOG = "holdfast-recovery.log";

/** What the server log says recovery did. */
export interface RecoveryOutcome {
  /** "recovery stopping before commit of transaction 745, time …" when a target was hit. */
  stoppedAt?: string;
  /** LSN of the last record replayed ("redo done at …"). */
  redoDoneLsn?: string;
  /** "last completed transaction was at log time …". */
  lastTransactionTime?: string;
  newTimeline?: number;
  log: string;
}

/**
 * Run PostgreSQL on the restored directory until recovery has finished and the server promoted,
 * then stop it. hot_standby=off makes `pg_ctl start -w` return only once the server is out of
 * recovery; a recovery that cannot reach its target ends the server with FATAL, and we read why.
 * Listens only on a unix socket in a private folder of its own (short: socket paths are limited to
 * ~100 bytes, a data directory's path is not), so it cannot collide with anything.
 */
export async function runRecovery(dir: string, owner: { uid: number; gid: number }, options: { timeoutSeconds: number; archiving?: boolean }): Promise<RecoveryOutcome> {
  // pg_ctl hands the option to /bin/sh inside single quotes: only a plain temp path goes there.
  const socketDir = await mkdtemp(join(/^[\w./-]+$/.test(tmpdir()) ? tmpdir() : "/tmp", "hf-rec-"));
  try {
    await chown(socketDir, owner.uid, owner.gid);
    return await recover(dir, owner, socketDir, options);
  } finally {
    await rm(socketDir, { recursive: true, force: true });
  }
}

async function recover(dir: string, owner: { uid: number }, socketDir: string, options: { timeoutSeconds: number; archiving?: boolean }): Promise<RecoveryOutcome> {
  const major = Number((await readFile(join(dir, "PG_VERSION"), "utf8")).trim());
  const pgCtl = findServerTool("pg_ctl", major);
  const asOwner = await ownerPrefix(owner.uid);
  const port = 40000 + Math.floor(Math.random() * 20000);
  const serverOptions = [
    "-c listen_addresses=''",
    `-c unix_socket_directories='${socketDir}'`,
    `-c port=${port}`,
    "-c hot_standby=off",
    "-c logging_collector=off",
    "-c log_destination=stderr",
    // A scratch restore (deep verify) must not archive a new timeline into the repository.
    ...(options.archiving === false ? ["-c archive_mode=off"] : []),
  ].join(" ");
  const logPath = join(dir, RECOVERY_LOG);
  const start = await runServerCommand([...asOwner, pgCtl, "-D", dir, "-l", logPath, "-o", serverOptions, "-w", "-t", String(options.timeoutSeconds), "start"]);
  const promoted = start.code === 0 && (await waitForProduction(dir, major, asOwner, pgCtl, options.timeoutSeconds));
  const log = await readFile(logPath, "utf8").catch(() => "");
  if (!promoted) {
    await runServerCommand([...asOwner, pgCtl, "-D", dir, "-m", "immediate", "-w", "stop"]);
    const fatal = log.split("\n").filter((l) => /FATAL|PANIC/.test(l)).map((l) => l.replace(/^.*?(FATAL|PANIC):\s*/, "")).join("; ");
    throw new HoldfastError("RESTORE_FAILED", `PostgreSQL recovery did not complete${fatal ? `: ${fatal}` : ` (pg_ctl: ${start.stderr.trim() || start.stdout.trim()})`}`);
  }
  const stop = await runServerCommand([...asOwner, pgCtl, "-D", dir, "-m", "fast", "-w", "-t", "120", "stop"]);
  if (stop.code !== 0) throw new HoldfastError("RESTORE_FAILED", `the recovered server in ${dir} did not stop cleanly: ${stop.stderr.trim()}`);
  const fullLog = await readFile(logPath, "utf8").catch(() => log);
  return parseRecoveryLog(fullLog);
}

/**
 * pg_ctl -w may return as soon as the server runs (even with hot_standby off): recovery is over
 * only when pg_control says "in production". false when the server died (or time ran out) first.
 */
async function waitForProduction(dir: string, major: number, asOwner: string[], pgCtl: string, timeoutSeconds: number): Promise<boolean> {
  const controldata = findServerTool("pg_controldata", major);
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (Date.now() < deadline) {
    const state = /Database cluster state:\s*(.+)/.exec((await runServerCommand([...asOwner, controldata, "-D", dir])).stdout)?.[1]?.trim();
    if (state === "in production") return true;
    const status = await runServerCommand([...asOwner, pgCtl, "-D", dir, "status"]);
    if (status.code === 3) return false; // not running: it ended with FATAL
    await sleep(250);
  }
  return false;
}

export function parseRecoveryLog(log: string): RecoveryOutcome {
  const pick = (re: RegExp): string | undefined => re.exec(log)?.[1];
  const redo = pick(/redo done at ([0-9A-F]+\/[0-9A-F]+)/);
  const timeline = pick(/selected new timeline ID: (\d+)/);
  return {
    stoppedAt: pick(/LOG:\s+(recovery stopping [^\n]*)/),
    redoDoneLsn: redo && isLsn(redo) ? redo : undefined,
    lastTransactionTime: pick(/last completed transaction was at log time ([^\n]+)/)?.trim(),
    newTimeline: timeline ? Number(timeline) : undefined,
    log,
  };
}

export function redoDoneAt(outcome: RecoveryOutcome): number | undefined {
  return outcome.redoDoneLsn ? parseLsn(outcome.redoDoneLsn) : undefined;
}
