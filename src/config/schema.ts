import { z } from "zod";
import { COMPRESSIONS } from "../pipeline/compression.js";
import { cronSchema, daemonOpsKeys, databaseOpsKeys } from "./ops-schema.js";

import { durationSchema as duration } from "./duration-schema.js";

/** holdfast.yaml. Strict: an unknown key is an error reported with its path. */
export const fileConfigSchema = z.strictObject({
  repo: z.string().min(1).optional(),
  passphrase_file: z.string().min(1).optional(),
  identity_file: z.string().min(1).optional(),
  compression: z
    .strictObject({
      algorithm: z.enum(COMPRESSIONS).optional(),
      level: z.number().int().min(1).max(19).optional(),
      threads: z.number().int().min(0).max(64).optional(),
    })
    .optional(),
  labels: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), z.string()).optional(),
  log: z.strictObject({ format: z.enum(["json", "text"]).optional(), level: z.enum(["debug", "info", "warn", "error"]).optional() }).optional(),
  tmp_dir: z.string().min(1).optional(),
  /** S3 connection and server-side options (credentials come from the AWS chain, never from here). */
  s3: z
    .strictObject({
      endpoint: z.string().url().optional(),
      region: z.string().min(1).optional(),
      path_style: z.boolean().optional(),
      storage_class: z.string().regex(/^[A-Z_]+$/, "an S3 storage class such as STANDARD_IA").optional(),
      sse: z.enum(["AES256", "aws:kms"]).optional(),
      kms_key_id: z.string().min(1).optional(),
      tags: z.record(z.string().min(1), z.string()).optional(),
      part_size_mib: z.number().int().min(5).max(512).optional(),
      queue_size: z.number().int().min(1).max(32).optional(),
    })
    .optional(),
  /** Offsite copies: every new backup is copied to these repositories after it completes. */
  copy_to: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  lock_wait: duration.optional(),
  ...daemonOpsKeys,
  databases: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.-]+$/, "database names use letters, digits, _ . -"),
      z.strictObject({
        source: z.string().min(1),
        labels: z.record(z.string(), z.string()).optional(),
        /** Folder of this database's SQL migrations (holdfast migrate), relative to this file. */
        migrations: z.string().min(1).optional(),
        ...databaseOpsKeys,
        /** Disaster-recovery drills of this database: the objectives `holdfast drill` measures against, and when the daemon runs one. */
        drill: z
          .strictObject({ schedule: cronSchema.optional(), targets: z.strictObject({ rto: duration.optional(), rpo: duration.optional() }).optional() })
          .optional(),
      }),
    )
    .optional(),
});

export type FileConfig = z.infer<typeof fileConfigSchema>;
