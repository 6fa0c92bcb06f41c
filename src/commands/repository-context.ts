import type { Settings } from "../config/load.js";
import type { RepositoryContext } from "../engines/engine.js";
import type { AgeKeys } from "../pipeline/age.js";
import type { Repository } from "../repository/repository.js";
import { WalArchive } from "../repository/wal-archive.js";
import { loadWalCatalog, type WalCatalog } from "../repository/wal-catalog.js";

/** What engines may use of an opened repository (see RepositoryContext): its WAL, keys, and how to reach it again. */
export function repositoryContext(repo: Repository, keys: AgeKeys | undefined, settings: Settings): RepositoryContext {
  const wal = new WalArchive(repo.backend);
  const catalogs = new Map<number | undefined, Promise<WalCatalog>>();
  return {
    wal,
    keys,
    walCatalog(segmentSize) {
      let loading = catalogs.get(segmentSize);
      if (!loading) {
        loading = loadWalCatalog(wal, keys, segmentSize);
        catalogs.set(segmentSize, loading);
        loading.catch(() => catalogs.delete(segmentSize)); // a failed read is tried again by the next caller
      }
      return loading;
    },
    access: {
      repo: settings.repo,
      configPath: settings.configPath,
      passphraseFile: settings.passphraseFile,
      identityFile: settings.identityFile,
      passphraseFromEnvironment: settings.passphrase !== undefined && !settings.passphraseFile,
    },
  };
}
