import { PREFETCH_DIR } from "../../../repository/wal-prefetch.js";
import { programPaths, type NeededPath } from "./preflight.js";
import { cliEntry, pgCommandLine, raw } from "./shell-command.js";
import { serviceBaseDir } from "./wal-fetch-service.js";

/** How long restore_command's shell waits for a segment the service is writing (steps of 20 ms): 3 s, then the client asks. */
const WAIT_STEPS = 150;

/**
 * The command PostgreSQL runs for each WAL file during a restore's recovery: a segment the fetch
 * service (wal-fetch-service.ts) already verified into the spool is renamed into place by the
 * shell, with no process start; one it is still writing (`<name>.holdfast-partial` exists) is
 * waited for in the shell, in 20 ms steps; anything else is asked of the service by the tiny
 * client. Neither needs the repository, its key or a passphrase: the restoring process holds
 * them. A service that died mid-write leaves its partial file: the wait ends after 3 s and the
 * client, finding no service, stops recovery (wal-fetch-client.ts).
 */
export function restoreCommand(socketPath: string): string {
  const client = [process.execPath, cliEntry("wal-fetch-client.js"), raw("%f"), raw("%p"), socketPath];
  const spooled = `s=pg_wal/${PREFETCH_DIR}/%f; n=0; while [ -f "$s.holdfast-partial" ] && [ $n -lt ${WAIT_STEPS} ]; do sleep 0.02; n=$((n+1)); done`;
  return `${spooled}; test -f "$s" && mv -f "$s" %p || ${pgCommandLine(client)}`;
}

/** Folders and files restore_command (run by the server's OS user) reaches, with the data directory's folders. */
export async function neededByRestoreCommand(dir: string): Promise<NeededPath[]> {
  return [
    { path: dir, what: "the restore target", access: "enter" },
    ...(await programPaths(cliEntry("wal-fetch-client.js"))),
    { path: serviceBaseDir(), what: "the folder of the restore's WAL fetch socket", access: "enter" },
  ];
}
