import { PREFETCH_DIR } from "../../../repository/wal-prefetch.js";
import { programPaths, type NeededPath } from "./preflight.js";
import { cliEntry, pgCommandLine, raw } from "./shell-command.js";
import { serviceBaseDir } from "./wal-fetch-service.js";

/**
 * The command PostgreSQL runs for each WAL file during a restore's recovery: a segment the fetch
 * service (wal-fetch-service.ts) already verified into the spool is renamed into place by the
 * shell, with no process start; anything else is asked of the service by the tiny client. Neither
 * needs the repository, its key or a passphrase: the restoring process holds them.
 */
export function restoreCommand(socketPath: string): string {
  const spooled = raw(`pg_wal/${PREFETCH_DIR}/%f`);
  const client = [process.execPath, cliEntry("wal-fetch-client.js"), raw("%f"), raw("%p"), socketPath];
  return `${pgCommandLine(["test", "-f", spooled])} && ${pgCommandLine(["mv", "-f", spooled, raw("%p")])} || ${pgCommandLine(client)}`;
}

/** Folders and files restore_command (run by the server's OS user) reaches, with the data directory's folders. */
export async function neededByRestoreCommand(dir: string): Promise<NeededPath[]> {
  return [
    { path: dir, what: "the restore target", access: "enter" },
    ...(await programPaths(cliEntry("wal-fetch-client.js"))),
    { path: serviceBaseDir(), what: "the folder of the restore's WAL fetch socket", access: "enter" },
  ];
}
