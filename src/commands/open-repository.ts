import type { Settings } from "../config/load.js";
import type { AgeKeys } from "../pipeline/age.js";
import { Repository } from "../repository/repository.js";
import { openBackend } from "../storage/open.js";

/** Open the configured repository and, when asked, unlock its keys (one scrypt at most). */
export async function openRepository(settings: Pick<Settings, "repo" | "passphrase" | "identities"> & Partial<Pick<Settings, "s3">>, unlock: "required" | "if-possible" | "no"): Promise<{ repo: Repository; keys?: AgeKeys }> {
  const repo = await Repository.open(openBackend(settings.repo, { s3: settings.s3 }));
  if (unlock === "no" || !repo.encrypted) return { repo };
  if (unlock === "if-possible") return { repo, keys: await unlockIfPossible(repo, settings) };
  return { repo, keys: await repo.unlock({ passphrase: settings.passphrase, identities: settings.identities }) };
}

/** The keys when a passphrase or identity is configured; undefined (no prompt, no error) otherwise. */
export async function unlockIfPossible(repo: Repository, settings: Pick<Settings, "passphrase" | "identities">): Promise<AgeKeys | undefined> {
  const haveSecret = settings.passphrase !== undefined || (settings.identities?.length ?? 0) > 0;
  return haveSecret && repo.encrypted ? repo.unlock({ passphrase: settings.passphrase, identities: settings.identities }) : undefined;
}
