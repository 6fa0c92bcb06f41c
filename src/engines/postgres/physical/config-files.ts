import { basename } from "node:path";
import { z } from "zod";

/**
 * The server's configuration files as a physical backup records them (manifest details
 * `configFiles`, `configWarnings`). A cluster may keep them outside its data directory (Debian:
 * /etc/postgresql/<version>/<cluster>/), where pg_basebackup does not look: those are stored as
 * extra backup files beside `base`, and restored into ORIGINAL_CONFIG_DIR, never put in force.
 */

/** PostgreSQL's three settings naming a file, or a file postgresql.conf pulls in (include, include_dir, include_if_exists). */
export const CONFIG_ROLES = ["config_file", "hba_file", "ident_file", "include"] as const;

export const configFileSchema = z.object({
  role: z.enum(CONFIG_ROLES),
  /** The path on the server. */
  path: z.string(),
  insideDataDirectory: z.boolean(),
  sizeBytes: z.number().int().nonnegative().optional(),
  sha256: z.string().optional(),
  /** The backup file (files[].name) holding its content: files outside the data directory only. */
  storedAs: z.string().optional(),
  /** Where its content was read: over the connection (pg_read_binary_file) or from this host's file system. */
  readFrom: z.enum(["server", "local"]).optional(),
});

export type ConfigFile = z.infer<typeof configFileSchema>;

/** Both fields are absent in manifests written before configuration files were recorded. */
const configDetailsSchema = z.object({
  configFiles: z.array(configFileSchema).optional(),
  /** Why configuration kept outside the data directory is not (or not all) in the backup. */
  configWarnings: z.array(z.string()).optional(),
});

export function configDetails(details: Record<string, unknown>): { files: ConfigFile[]; warnings: string[] } {
  const parsed = configDetailsSchema.safeParse(details);
  return parsed.success ? { files: parsed.data.configFiles ?? [], warnings: parsed.data.configWarnings ?? [] } : { files: [], warnings: [] };
}

/** The folder of a restored data directory that receives the stored originals. */
export const ORIGINAL_CONFIG_DIR = "holdfast-original-config";

/** What the restore writes beside the originals, saying where each came from. */
export const ORIGINAL_CONFIG_README = "README.holdfast";

const STORED_PREFIX = "config-";

/** A backup file name for a configuration file (config-pg_hba.conf), unique among `taken`. */
export function storedConfigName(path: string, taken: Set<string>): string {
  const base = basename(path).replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "") || "file";
  let name = `${STORED_PREFIX}${base}`;
  for (let n = 2; taken.has(name) || name === `${STORED_PREFIX}${ORIGINAL_CONFIG_README}`; n++) name = `${STORED_PREFIX}${n}-${base}`;
  taken.add(name);
  return name;
}

/** The file name inside ORIGINAL_CONFIG_DIR: the stored name without its prefix (pg_hba.conf). */
export function restoredConfigName(storedAs: string): string {
  return storedAs.startsWith(STORED_PREFIX) ? storedAs.slice(STORED_PREFIX.length) : storedAs;
}
