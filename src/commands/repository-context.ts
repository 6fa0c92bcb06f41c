import type { Settings } from "../config/load.js";
import type { RepositoryContext } from "../engines/engine.js";
import type { AgeKeys } from "../pipeline/age.js";
import type { Repository } from "../repository/repository.js";
import { WalArchive } from "../repository/wal-archive.js";

/** What engines may use of an opened repository (see RepositoryContext): its WAL, keys, and how to reach it again. */
export function repositoryContext(repo: Repository, keys: AgeKeys | undefined, settings: Settings): RepositoryContext {
  return {
    wal: new WalArchive(repo.backend),
    keys,
    access: {
      repo: settings.repo,
      configPath: settings.configPath,
      passphraseFile: settings.passphraseFile,
      identityFile: settings.identityFile,
      passphraseFromEnvironment: settings.passphrase !== undefined && !settings.passphraseFile,
    },
  };
}
