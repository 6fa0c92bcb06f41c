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
});

export const tableFactsSchema = z.strictObject({
  name: z.string(),
  rows: z.number().int().nonnegative(),
  /** Content checksum taken inside the backup's snapshot, when the engine can. */
  checksum: z.string().optional(),
});

export const manifestSchema = z.strictObject({
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  id: z.string(),
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
});

export type Manifest = z.infer<typeof manifestSchema>;
export type TableFacts = z.infer<typeof tableFactsSchema>;

export function totalStoredBytes(m: Manifest): number {
  return m.files.reduce((sum, f) => sum + f.storedBytes, 0);
}

export function totalContentBytes(m: Manifest): number {
  return m.files.reduce((sum, f) => sum + f.contentBytes, 0);
}
