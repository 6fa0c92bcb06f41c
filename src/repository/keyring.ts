import { createHash } from "node:crypto";
import { HoldfastError, registerSecret } from "../errors.js";
import { keyIdOf } from "../pipeline/key-id.js";
import type { KeyEntry, RepoConfig } from "./repo-config.js";

type PassphraseEncryption = Extract<RepoConfig["encryption"], { mode: "passphrase" }>;

/** One repository key with its secret half, as the key file holds it. */
export interface RepositoryKey {
  identity: string;
  recipient: string;
}

/**
 * The keys of a passphrase repository, oldest first (the last is current). A repository that never
 * changed keys has no keyring in holdfast.json: its one key was made with the repository.
 */
export function keyEntries(config: RepoConfig): KeyEntry[] {
  const enc = config.encryption;
  if (enc.mode === "none") return [];
  if (enc.mode === "passphrase" && enc.keyring) return enc.keyring.keys;
  const recipient = enc.mode === "passphrase" ? enc.recipients[0]! : undefined;
  return [{ id: keyIdOf(recipient ? [recipient] : enc.recipients), recipient: recipient ?? enc.recipients.join(","), createdAt: config.createdAt }];
}

/**
 * The key file's text: a standard age identity file (comments, then one AGE-SECRET-KEY line per
 * key, newest first), so `age -d keys/repository.key.age > identity.txt` gives a file that
 * `age -d -i identity.txt` opens every backup with.
 */
export function keyFileText(keys: readonly RepositoryKey[]): string {
  return keys.map((k) => `# public key: ${k.recipient}\n${k.identity}\n`).join("");
}

/** The identities in an opened key file (one line in repositories older than the keyring). */
export async function keysInKeyFile(text: string, where: string): Promise<RepositoryKey[]> {
  const identities = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.startsWith("AGE-SECRET-KEY-"));
  if (identities.length === 0) throw new HoldfastError("CORRUPTED", `${where} holds no age identity`);
  identities.forEach(registerSecret);
  return keysOf(identities);
}

/** Identities with their public halves. */
export async function keysOf(identities: readonly string[]): Promise<RepositoryKey[]> {
  // Loaded here, not at start-up: wal-push opens a repository without its keys.
  const { identityToRecipient } = await import("age-encryption");
  return Promise.all(identities.map(async (identity) => ({ identity, recipient: await identityToRecipient(identity) })));
}

/** Check that the key file holds a secret for every key holdfast.json names (before a switch, and after unlock). */
export function assertKeysComplete(enc: PassphraseEncryption, entries: readonly KeyEntry[], keys: readonly RepositoryKey[], where: string): void {
  const have = new Set(keys.map((k) => k.recipient));
  const missing = [...entries.map((e) => e.recipient), ...enc.recipients].filter((r) => !have.has(r));
  if (missing.length) throw new HoldfastError("CORRUPTED", `${where} lacks the secret of key ${keyIdOf([missing[0]!])} that holdfast.json names`);
}

/**
 * The identities of an identity file that are keys of this repository (a file `holdfast key export`
 * wrote; one exported before a `key rotate` lacks the newer keys and opens the older backups only).
 * None of them: WRONG_KEY, before any data is read.
 */
export async function identitiesOfRepository(identities: readonly string[], config: RepoConfig, location: string): Promise<string[]> {
  const known = new Set([...keyEntries(config).map((e) => e.recipient), ...(config.encryption.mode === "none" ? [] : config.encryption.recipients)]);
  const mine = (await keysOf(identities)).filter((k) => known.has(k.recipient));
  if (mine.length === 0) {
    throw new HoldfastError("WRONG_KEY", `the identity file holds none of the keys of the repository at ${location}`, {
      hint: "use the file `holdfast key export` wrote for this repository, or its passphrase (--passphrase-file)",
    });
  }
  return mine.map((k) => k.identity);
}

export function sha256Hex(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The scrypt work factor of a passphrase-sealed age file (kept when the file is sealed again). */
export function scryptWorkFactorOf(sealedFile: Buffer): number | undefined {
  const match = /^-> scrypt \S+ (\d+)$/m.exec(sealedFile.subarray(0, 512).toString("latin1"));
  return match ? Number(match[1]) : undefined;
}

/**
 * Whether `there` is a copy of `here` (same repository, its keys possibly older): the same
 * encryption, or for passphrase repositories every key there is a key here too.
 */
export function copyRelation(here: RepoConfig, there: RepoConfig): "same" | "older" | "newer" | "other" {
  if (JSON.stringify(here.encryption) === JSON.stringify(there.encryption)) return "same";
  const a = here.encryption;
  const b = there.encryption;
  if (a.mode !== "passphrase" || b.mode !== "passphrase") return "other";
  const mine = new Set(keyEntries(here).map((k) => k.recipient));
  const theirs = new Set(keyEntries(there).map((k) => k.recipient));
  if (![...theirs].some((r) => mine.has(r))) return "other";
  const sealedHere = a.keyring?.sealedAt ?? here.createdAt;
  const sealedThere = b.keyring?.sealedAt ?? there.createdAt;
  if ([...theirs].every((r) => mine.has(r)) && sealedHere >= sealedThere) return "older";
  if ([...mine].every((r) => theirs.has(r)) && sealedThere >= sealedHere) return "newer";
  return "other";
}
