import { z } from "zod";

export const REPOSITORY_FORMAT_VERSION = 1;

/** holdfast.json at the repository root: written once by `repo init`, read by every command. */
export const repoConfigSchema = z.strictObject({
  formatVersion: z.literal(REPOSITORY_FORMAT_VERSION),
  /** SHA-256 of this file's JSON without this field (absent in repositories made before it). */
  integrity: z.string().optional(),
  createdAt: z.iso.datetime(),
  createdBy: z.string(),
  encryption: z.discriminatedUnion("mode", [
    z.strictObject({ mode: z.literal("none") }),
    /** A repository X25519 identity, sealed with the passphrase in keys/repository.key.age. */
    z.strictObject({ mode: z.literal("passphrase"), recipients: z.array(z.string()).min(1), keyFile: z.string() }),
    /** The user's own age recipients; reading needs their identity file. */
    z.strictObject({ mode: z.literal("recipients"), recipients: z.array(z.string()).min(1) }),
  ]),
});

export type RepoConfig = z.infer<typeof repoConfigSchema>;
export type EncryptionMode = RepoConfig["encryption"]["mode"];
