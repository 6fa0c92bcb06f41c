import { HoldfastError } from "../../../errors.js";
import { findPostgresBinary, runTool, userName, withoutHoldfastSecrets } from "../tools.js";

export type ServerTool = "pg_basebackup" | "pg_ctl" | "pg_controldata" | "postgres";

/** Server-side binaries, found like the client tools (see findPostgresBinary). */
export function findServerTool(tool: ServerTool, major?: number): string {
  return findPostgresBinary(tool, {
    major,
    hint: major ? `install postgresql-${major} or set HOLDFAST_PG_BIN` : "install the PostgreSQL server packages or set HOLDFAST_PG_BIN",
  });
}

/** PostgreSQL refuses to run as root: when we are root, run its tools as the data directory's owner. */
export async function ownerPrefix(uid: number): Promise<string[]> {
  if (process.getuid?.() !== 0 || uid === 0) return [];
  const name = await userName(uid);
  if (!name) throw new HoldfastError("RESTORE_FAILED", `the restored files belong to uid ${uid}, which has no user name to run PostgreSQL as`);
  return ["runuser", "-u", name, "--"];
}

/** Run a server tool (argv, ownerPrefix first when needed) from "/"; the server and the restore_command it runs never inherit a passphrase from our environment. */
export function runServerCommand(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runTool(argv[0]!, argv.slice(1), { env: withoutHoldfastSecrets(process.env), cwd: "/" });
}
