import { z } from "zod";
import { COMPRESSIONS } from "../pipeline/compression.js";

export const MANIFEST_FORMAT_VERSION = 1 as const;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const storedFileSchema = z.strictObject({
  name: z.string().min(1),
  key: z.string().min(1),
  contentBytes: z.number().int().nonnegative(),
  contentSha256: sha256,
  storedBytes: z.number().int().nonnegative(),
  storedSha256: sha256,
  compression: z.strictObject({ algorithm: z.enum(COMPRESSIONS), level: z.number().int() }),
  encryption: z.enum(["age", "none"]),
  /** The repository key the file is encrypted to (pipeline/key-id.ts); absent before keys had ids. */
  keyId: z.string().optional(),
});

export const tableFactsSchema = z.strictObject({
  name: z.string(),
  rows: z.number().int().nonnegative(),
  /** Content checksum taken inside the backup's snapshot, when the engine can. */
  checksum: z.string().optional(),
});

/**
 * What a backup is for. `latest` means the newest `full` backup of one source; the other kinds are
 * never picked by `latest`, and retention treats them apart:
 *  - full: the whole database (what scheduled backups take);
 *  - partial: table filters or data only;
 *  - schema-only: definitions without data;
 *  - safety: taken automatically before a restore replaced or cleaned a database;
 *  - export: an application-level export (src/transfer/, engine "export"): restored by import,
 *    never by restore; retention keeps exports apart from the backups of the same source.
 */
export const BACKUP_KINDS = ["full", "partial", "schema-only", "safety", "export"] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];

export const manifestSchema = z.strictObject({
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  id: z.string(),
  /** Absent in manifests written before kinds existed: see kindOf(). */
  kind: z.enum(BACKUP_KINDS).optional(),
  engine: z.string(),
  /** What was backed up, credentials removed. */
  source: z.strictObject({
    uri: z.string(),
    version: z.string(),
    sizeBytes: z.number().int().nonnegative(),
  }),
  labels: z.record(z.string(), z.string()),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  durationMs: z.number().nonnegative(),
  holdfast: z.strictObject({ version: z.string() }),
  host: z.strictObject({ hostname: z.string(), platform: z.string() }),
  files: z.array(storedFileSchema).min(1),
  tables: z.array(tableFactsSchema),
  /** Engine-specific facts (page size, integrity_check result, pg_dump version, …). */
  details: z.record(z.string(), z.unknown()),
  /** SHA-256 of this manifest's JSON without this field (repository/json-object.ts sealed()). */
  integrity: z.string().optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type TableFacts = z.infer<typeof tableFactsSchema>;

export function totalStoredBytes(m: Manifest): number {
  return m.files.reduce((sum, f) => sum + f.storedBytes, 0);
}

export function totalContentBytes(m: Manifest): number {
  return m.files.reduce((sum, f) => sum + f.contentBytes, 0);
}

/** Label that marked safety backups before they had a kind of their own (still honoured). */
export const LEGACY_SAFETY_LABEL = "holdfast.safety";

/** The kind of a backup; manifests older than `kind` are classified by their labels and details. */
export function kindOf(m: Pick<Manifest, "kind" | "labels" | "details">): BackupKind {
  if (m.kind) return m.kind;
  if (m.labels[LEGACY_SAFETY_LABEL] !== undefined) return "safety";
  if (m.details.schemaOnly === true) return "schema-only";
  const filters = m.details.tableFilters;
  const excluded = m.details.excludeTableFilters;
  if (m.details.dataOnly === true || (Array.isArray(filters) && filters.length > 0) || (Array.isArray(excluded) && excluded.length > 0)) return "partial";
  return "full";
}
