import { readFile, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import type { Settings } from "../config/load.js";
import type { CommandContext } from "../commands/context.js";
import { restore } from "../commands/restore.js";
import { connect, parsePgUrl } from "../engines/postgres/connection.js";
import { findServerTool, ownerPrefix, runServerCommand } from "../engines/postgres/physical/server-tools.js";
import { HoldfastError } from "../errors.js";
import { compareStates } from "./checks.js";
import type { RollbackOutcome } from "./report.js";
import type { UpgradeRestorePoint } from "./restore-point.js";
import type { DatabaseState, UpgradeTarget } from "./upgrade-target.js";

/** The log of the server started again after the rollback, inside its data directory. */
export const ROLLBACK_SERVER_LOG = "holdfast-rollback-server.log";

/**
 * Before anything changes: `pgdata` is the data directory of the server the upgrade connects to
 * (its data_directory setting, both resolved), so stopping and replacing it cannot hit another
 * cluster; and its configuration files live inside it (`pg_ctl -D` starts the restored directory
 * with them). Returns the resolved path.
 */
export async function checkDataDirectory(url: string, pgdata: string): Promise<string> {
  const given = isAbsolute(pgdata) ? pgdata : resolve(pgdata);
  const mine = await realpath(given).catch(() => {
    throw new HoldfastError("USAGE", `--pgdata ${given} does not exist`);
  });
  const client = await connect(parsePgUrl(url), "upgrade data directory");
  let settings: Record<string, string>;
  try {
    const { rows } = await client.query<{ name: string; setting: string }>("SELECT name, setting FROM pg_settings WHERE name IN ('data_directory', 'config_file', 'hba_file', 'ident_file')");
    settings = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  } finally {
    await client.end().catch(() => undefined);
  }
  const served = settings.data_directory;
  if (!served) throw new HoldfastError("UPGRADE_REFUSED", `the server being upgraded does not show its data directory to this role, so --pgdata ${given} cannot be checked`, { hint: "connect as a superuser or a member of pg_read_all_settings, or leave --pgdata out to roll back by hand" });
  const theirs = await realpath(served).catch(() => served);
  if (theirs !== mine) throw new HoldfastError("UPGRADE_REFUSED", `--pgdata ${given} is not the data directory of the server being upgraded (it runs on ${served})`, { hint: "give the server's own data directory (SHOW data_directory), or leave --pgdata out to roll back by hand" });
  const outside = (["config_file", "hba_file", "ident_file"] as const).filter((k) => settings[k] && !settings[k]!.startsWith(`${served}/`));
  if (outside.length > 0) {
    throw new HoldfastError("UPGRADE_REFUSED", `the server's ${outside.map((k) => `${k} (${settings[k]})`).join(", ")} lives outside its data directory ${served}: pg_ctl -D cannot start the restored directory with it`, { hint: "leave --pgdata out and roll back by hand (the hint of a failed upgrade names the restore)" });
  }
  return mine;
}

/**
 * The automatic way back of a restore point (--pgdata): stop the server (fast), restore the base
 * backup into its data directory up to the restore point (the directory it replaces is kept aside
 * as the restore's safety copy; the restored server keeps archiving into the repository), start it
 * again and prove the database equals `before`. When the restore fails the previous directory is
 * back in place and is started again. Never throws: what failed is in the outcome.
 */
export async function rollBackToRestorePoint(target: UpgradeTarget, point: UpgradeRestorePoint, pgdata: string, before: DatabaseState, settings: Settings, ctx: CommandContext, mode: RollbackOutcome["mode"] = "restore"): Promise<RollbackOutcome> {
  const outcome: RollbackOutcome = { mode, taken: true, by: "restore-point", detail: `point-in-time restore of ${pgdata} to restore point ${point.name} from base backup ${point.baseBackupId}` };
  let stopped = false;
  try {
    await serverCommand(pgdata, ["-m", "fast", "-w", "-t", "120", "stop"], "stop");
    stopped = true;
    const engineOptions = { targetName: point.name, replace: true, archive: true };
    const restored = await restore({ ref: point.baseBackupId, to: pgdata, inPlace: false, type: "physical", settings, engineOptions }, ctx);
    outcome.safetyCopy = restored.safetyCopy;
    await startServer(pgdata);
    stopped = false;
    outcome.problems = compareStates(before, await target.state());
    outcome.proven = outcome.problems.length === 0;
  } catch (err) {
    outcome.error = (err as Error).message;
    outcome.proven = false;
    // The restore put the previous directory back: the server runs again as the failure left it.
    if (stopped) await startServer(pgdata).catch((e: unknown) => (outcome.error += `; the server could not be started again: ${(e as Error).message}`));
  }
  ctx.log.info({ restorePoint: point.name, pgdata, proven: outcome.proven, problems: outcome.problems, error: outcome.error }, "rollback to restore point finished");
  return outcome;
}

function startServer(pgdata: string): Promise<void> {
  return serverCommand(pgdata, ["-l", join(pgdata, ROLLBACK_SERVER_LOG), "-w", "-t", "300", "start"], "start");
}

/** pg_ctl -D <pgdata> …, of the directory's major version, as its owner. */
async function serverCommand(pgdata: string, args: string[], what: "stop" | "start"): Promise<void> {
  const owner = await stat(pgdata);
  const major = Number((await readFile(join(pgdata, "PG_VERSION"), "utf8")).trim());
  const pgCtl = findServerTool("pg_ctl", major);
  const result = await runServerCommand([...(await ownerPrefix(owner.uid)), pgCtl, "-D", pgdata, ...args]);
  if (result.code !== 0) {
    const log = what === "start" ? ` (server log: ${join(pgdata, ROLLBACK_SERVER_LOG)})` : "";
    throw new HoldfastError("RESTORE_FAILED", `pg_ctl ${what} of ${pgdata} failed: ${(result.stderr.trim() || result.stdout.trim()).split("\n").at(-1)}${log}`);
  }
}
