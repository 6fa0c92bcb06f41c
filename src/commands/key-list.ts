import type { Settings } from "../config/load.js";
import { keyEntries } from "../repository/keyring.js";
import type { KeyEntry } from "../repository/repo-config.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";

export interface KeyListResult {
  repository: string;
  encryption: "none" | "passphrase" | "recipients";
  /** Oldest first. Needs no passphrase: these are the public halves. */
  keys: (KeyEntry & { current: boolean; backups: number })[];
  /** Encrypted backups written before files recorded their key. */
  backupsWithoutKeyId: number;
}

/** `key list`: the repository's keys, which one new backups use, and how many backups each opens. */
export async function listKeys(settings: Settings, _ctx: CommandContext): Promise<KeyListResult> {
  const { repo } = await openRepository(settings, "no");
  const counts = new Map<string, number>();
  let withoutId = 0;
  for (const m of (await repo.catalog()).backups) {
    const ids = new Set(m.files.filter((f) => f.encryption === "age").map((f) => f.keyId));
    if (ids.has(undefined)) withoutId++;
    for (const id of ids) if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const current = repo.recipients?.join(",");
  return {
    repository: repo.backend.location,
    encryption: repo.config.encryption.mode,
    keys: keyEntries(repo.config).map((k) => ({ ...k, current: k.recipient === current, backups: counts.get(k.id) ?? 0 })),
    backupsWithoutKeyId: withoutId,
  };
}
