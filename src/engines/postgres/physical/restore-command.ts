import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { HoldfastError } from "../../../errors.js";
import { PREFETCH_DIR } from "../../../repository/wal-prefetch.js";
import type { RepositoryAccess } from "../../engine.js";
import { programPaths, type NeededPath } from "./preflight.js";
import { cliEntry, pgCommandLine, raw, repoArgument, type RawPart } from "./shell-command.js";

/** The absolute command PostgreSQL runs for each WAL file: node, this CLI, the repository, the key's file. */
export function restoreCommand(access: RepositoryAccess): string {
  const parts: (string | RawPart)[] = [process.execPath, cliEntry("main.js"), "wal-fetch", raw("%f"), raw("%p"), "--log-level", "warn"];
  if (access.configPath) parts.push("--config", resolve(access.configPath));
  if (access.repo) parts.push("--repo", repoArgument(access.repo));
  if (access.passphraseFile) parts.push("--passphrase-file", resolve(access.passphraseFile));
  else if (access.passphraseFromEnvironment && !access.configPath) {
    throw new HoldfastError("USAGE", "restore_command needs the passphrase from a file, and it was given in HOLDFAST_PASSPHRASE", {
      hint: "use --passphrase-file (readable by the PostgreSQL OS user); the passphrase is never written into the configuration",
    });
  }
  if (access.identityFile) parts.push("--identity-file", resolve(access.identityFile));
  // A segment wal-fetch already prefetched is just renamed into place by the shell: no Node start.
  const spooled = raw(`pg_wal/${PREFETCH_DIR}/%f`);
  return `${pgCommandLine(["test", "-f", spooled])} && ${pgCommandLine(["mv", "-f", spooled, raw("%p")])} || ${pgCommandLine(parts)}`;
}

/** Folders and files restore_command (run by the server's OS user) reads, with the data directory's folders. */
export async function neededByRestoreCommand(access: RepositoryAccess, dir: string): Promise<NeededPath[]> {
  const needs: NeededPath[] = [{ path: dir, what: "the restore target", access: "enter" }, ...(await programPaths(cliEntry("main.js")))];
  const repo = access.repo ? repoArgument(access.repo) : undefined;
  if (repo && !/^[a-z0-9]+:\/\//i.test(repo)) {
    needs.push({ path: repo, what: "the repository", access: "read" }, { path: join(repo, "holdfast.json"), what: "the repository configuration", access: "read" });
    for (const [sub, what] of [["keys", "the repository key folder"], ["wal", "the WAL archive"]] as const) {
      if (await stat(join(repo, sub)).then(() => true, () => false)) needs.push({ path: join(repo, sub), what, access: "tree" });
    }
  }
  if (access.configPath) needs.push({ path: resolve(access.configPath), what: "the configuration file", access: "read" });
  if (access.passphraseFile) needs.push({ path: resolve(access.passphraseFile), what: "the passphrase file", access: "read" });
  if (access.identityFile) needs.push({ path: resolve(access.identityFile), what: "the identity file", access: "read" });
  return needs;
}
