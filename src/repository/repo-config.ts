import { z } from "zod";

export const REPOSITORY_FORMAT_VERSION = 1;

/** One repository key: its public half and when it was made (and retired by `key rotate`). */
export const keyEntrySchema = z.strictObject({
  /** keyIdOf([recipient]): what stored files record as their keyId. */
  id: z.string(),
  recipient: z.string(),
  createdAt: z.iso.datetime(),
  retiredAt: z.iso.datetime().optional(),
});
export type KeyEntry = z.infer<typeof keyEntrySchema>;

/**
 * Written by `key passphrase` and `key rotate` (absent in repositories that never changed keys:
 * one key, made with the repository). Public facts only; the secrets are in the key file.
 */
export const keyringSchema = z.strictObject({
  /** Every key, oldest first; new files are encrypted to the current one (recipients[0]). */
  keys: z.array(keyEntrySchema).min(1),
  /** When the key file was last sealed, and the SHA-256 of its bytes: tells copies which is newer. */
  sealedAt: z.iso.datetime(),
  keyFileSha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type Keyring = z.infer<typeof keyringSchema>;

/** holdfast.json at the repository root: written once by `repo init`, read by every command. */
export const repoConfigSchema = z.strictObject({
  formatVersion: z.literal(REPOSITORY_FORMAT_VERSION),
  /** SHA-256 of this file's JSON without this field (absent in repositories made before it). */
  integrity: z.string().optional(),
  createdAt: z.iso.datetime(),
  createdBy: z.string(),
  encryption: z.discriminatedUnion("mode", [
    z.strictObject({ mode: z.literal("none") }),
    /**
     * Repository X25519 identities, sealed with the passphrase in keyFile (keys/repository.key.age):
     * the current one (whose public key is recipients[0]) and, after `key rotate`, the older ones.
     */
    z.strictObject({ mode: z.literal("passphrase"), recipients: z.array(z.string()).min(1), keyFile: z.string(), keyring: keyringSchema.optional() }),
    /** The user's own age recipients; reading needs their identity file. */
    z.strictObject({ mode: z.literal("recipients"), recipients: z.array(z.string()).min(1) }),
  ]),
});

export type RepoConfig = z.infer<typeof repoConfigSchema>;
export type EncryptionMode = RepoConfig["encryption"]["mode"];
