import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { HoldfastError, registerSecret } from "../errors.js";
import type { Settings } from "../config/load.js";
import { keyIdOf } from "../pipeline/key-id.js";
import { sealWithPassphrase } from "../pipeline/passphrase.js";
import { withKeysLock } from "../repository/key-lock.js";
import { settleKeyFile, switchKeyFile, syncKeys } from "../repository/key-switch.js";
import { keyEntries, keyFileText, keysOf, scryptWorkFactorOf, type RepositoryKey } from "../repository/keyring.js";
import { readAllBuffer } from "../repository/read-text.js";
import { CONFIG_KEY } from "../repository/layout.js";
import type { KeyEntry } from "../repository/repo-config.js";
import { Repository } from "../repository/repository.js";
import { openBackend } from "../storage/open.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";

export interface KeyChangeResult {
  repository: string;
  /** The key new backups are encrypted to. */
  currentKey: KeyEntry;
  /** How many keys the key file holds (all of them open with the one passphrase). */
  keys: number;
  /** Each copy_to location: updated to the new key file, already current, or not reachable. */
  copies: { location: string; status: "updated" | "current" | "no repository yet" | "failed"; error?: string }[];
}

/**
 * `key passphrase`: seal the repository's key file with a new passphrase. Only the key file and
 * holdfast.json are rewritten (crash-safe: repository/key-switch.ts); every backup stays as it is.
 */
export async function changePassphrase(req: { settings: Settings; newPassphrase: string }, ctx: CommandContext): Promise<KeyChangeResult> {
  if (req.newPassphrase === req.settings.passphrase) throw new HoldfastError("USAGE", "the new passphrase is the current one");
  return changeKeys(req.settings, ctx, { purpose: "key passphrase", drainWriters: false }, async (repo, keys) => ({
    keys,
    entries: keyEntries(repo.config),
    passphrase: req.newPassphrase,
  }));
}

/**
 * `key rotate`: make a new repository key (age X25519) that new backups and WAL are encrypted to.
 * The older keys stay in the key file, so older backups stay readable with the same passphrase,
 * while the older keys alone open nothing written after the rotation. Waits for running backups
 * (or refuses, without --lock-wait), so none started before the switch finishes after it.
 */
export async function rotateKey(req: { settings: Settings }, ctx: CommandContext): Promise<KeyChangeResult> {
  return changeKeys(req.settings, ctx, { purpose: "key rotate", drainWriters: true }, async (repo, keys) => {
    const identity = await generateX25519Identity();
    registerSecret(identity);
    const recipient = await identityToRecipient(identity);
    const now = new Date().toISOString();
    const current = repo.recipients![0];
    const entries = keyEntries(repo.config).map((e) => (e.recipient === current && !e.retiredAt ? { ...e, retiredAt: now } : e));
    return { keys: [{ identity, recipient }, ...keys], entries: [...entries, { id: keyIdOf([recipient]), recipient, createdAt: now }], passphrase: req.settings.passphrase! };
  });
}

interface NewKeys {
  /** Newest first, as the key file lists them. */
  keys: RepositoryKey[];
  /** Oldest first; the last is the current key. */
  entries: KeyEntry[];
  passphrase: string;
}

async function changeKeys(settings: Settings, ctx: CommandContext, how: { purpose: string; drainWriters: boolean }, plan: (repo: Repository, keys: RepositoryKey[]) => Promise<NewKeys>): Promise<KeyChangeResult> {
  const { repo: opened } = await openRepository(settings, "no");
  assertPassphraseRepository(opened, how.purpose);
  const changed = await withKeysLock(opened.backend, how.purpose, { waitMs: settings.lockWaitMs, signal: ctx.signal, drainWriters: how.drainWriters }, async () => {
    // Re-read under the lock: another key change may have finished (or been interrupted) meanwhile.
    const { repo } = await settleKeyFile(await Repository.open(opened.backend));
    const enc = repo.config.encryption;
    if (enc.mode !== "passphrase") throw new HoldfastError("INTERNAL", "the repository's encryption changed during a key change");
    const unlocked = await repo.unlock({ passphrase: settings.passphrase });
    const keys = await keysOf(unlocked!.identities);
    const next = await plan(repo, keys);
    const workFactor = scryptWorkFactorOf(await readAllBuffer(await repo.backend.get(enc.keyFile)));
    const sealedKeyFile = await sealWithPassphrase(keyFileText(next.keys), next.passphrase, workFactor);
    const current = next.entries[next.entries.length - 1]!;
    const after = await switchKeyFile(repo, { sealedKeyFile, recipient: current.recipient, keys: next.entries, sealedAt: new Date().toISOString() });
    ctx.log.info({ repo: repo.backend.location, key: current.id, keys: next.keys.length }, how.purpose === "key rotate" ? "repository key rotated" : "repository passphrase changed");
    return { repo: after, currentKey: current, keys: next.keys.length };
  });
  const copies = await updateCopies(changed.repo, settings, ctx);
  const result: KeyChangeResult = { repository: changed.repo.backend.location, currentKey: changed.currentKey, keys: changed.keys, copies };
  const failed = copies.filter((c) => c.status === "failed");
  if (failed.length) {
    throw new HoldfastError("STORAGE_FAILED", `the keys of ${result.repository} changed, but offsite copy ${failed.map((c) => `${c.location} (${c.error})`).join("; ")} still has the old key file`, {
      hint: `it still opens with the old passphrase; \`holdfast copy --to ${failed[0]!.location}\` updates it`,
    });
  }
  return result;
}

function assertPassphraseRepository(repo: Repository, purpose: string): void {
  const enc = repo.config.encryption;
  if (enc.mode === "passphrase") return;
  if (enc.mode === "none") throw new HoldfastError("USAGE", `the repository at ${repo.backend.location} is not encrypted: it has no key (${purpose})`);
  throw new HoldfastError("USAGE", `the repository at ${repo.backend.location} is encrypted to your own age keys (${enc.recipients.join(", ")}): Holdfast holds no key or passphrase for it (${purpose})`, {
    hint: "protect or replace those identity files with age itself; to encrypt new backups to a new key, start a new repository with `repo init --recipient <new key>` and keep the old identity for the old one",
  });
}

/** Give every copy_to location the new key file now, so none still opens with an old passphrase. */
async function updateCopies(primary: Repository, settings: Settings, ctx: CommandContext): Promise<KeyChangeResult["copies"]> {
  const out: KeyChangeResult["copies"] = [];
  for (const location of settings.copyTo ?? []) {
    try {
      const backend = openBackend(location, { s3: settings.s3 });
      if (!(await backend.stat(CONFIG_KEY))) {
        out.push({ location: backend.location, status: "no repository yet" });
        continue;
      }
      const { updated } = await syncKeys(primary, await Repository.open(backend), { waitMs: settings.lockWaitMs, signal: ctx.signal });
      out.push({ location: backend.location, status: updated ? "updated" : "current" });
    } catch (err) {
      ctx.log.error({ to: location, error: (err as Error).message }, "offsite copy's keys not updated");
      out.push({ location, status: "failed", error: (err as Error).message });
    }
  }
  return out;
}
