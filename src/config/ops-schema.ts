import { Cron } from "croner";
import { z } from "zod";
import { isValidTimeZone } from "../repository/retention.js";

/**
 * holdfast.yaml sections for operations (retention, schedules, the daemon's HTTP endpoint and
 * alerts). Kept apart from schema.ts so that file stays a readable list of top-level keys.
 */
import { durationSchema as duration } from "./duration-schema.js";

export const timeZoneSchema = z.string().refine(isValidTimeZone, { message: "unknown time zone (use an IANA name such as Europe/Berlin or UTC)" });

/** Cron with optional seconds (6 fields), checked by the scheduler's own parser. */
export const cronSchema = z.string().superRefine((pattern, ctx) => {
  try {
    new Cron(pattern, { paused: true }).stop();
  } catch (err) {
    ctx.addIssue({ code: "custom", message: `invalid cron "${pattern}" (${(err as Error).message})` });
  }
});

const count = z.number().int().min(0).max(100_000);

export const retentionSchema = z.strictObject({
  keep_last: count.optional(),
  keep_hourly: count.optional(),
  keep_daily: count.optional(),
  keep_weekly: count.optional(),
  keep_monthly: count.optional(),
  keep_yearly: count.optional(),
  keep_within: duration.optional(),
  min_verified: count.optional(),
});

export const scheduleSchema = z.strictObject({
  backup: cronSchema.optional(),
  verify: cronSchema.optional(),
  deep_verify: cronSchema.optional(),
  prune: cronSchema.optional(),
  /** Copy this database's backups to every copy_to repository (those not there yet). */
  copy: cronSchema.optional(),
});

const globs = z.array(z.string().min(1)).optional();

/** A daily application-level export into the repository (kind export), with the CLI's filters. */
export const exportJobSchema = z.strictObject({
  schedule: cronSchema,
  /** Only tables matching these globs (* and ?), like --table. */
  tables: globs,
  /** Tables left out, like --exclude-table. */
  exclude_tables: globs,
  /** Columns sealed with the repository key, like --sensitive ("users.password_hash", "tokens.*"). */
  sensitive: globs,
  /** Table → SQL condition, like --where 'table: condition'. */
  where: z.record(z.string().min(1), z.string().min(1)).optional(),
});

/** Keys added to each entry of `databases:`. */
export const databaseOpsKeys = {
  schedule: scheduleSchema.optional(),
  timezone: timeZoneSchema.optional(),
  /** /health/backup turns 503 and a staleness alert fires when the newest backup is older. */
  stale_after: duration.optional(),
  retention: retentionSchema.optional(),
  export: exportJobSchema.optional(),
  /** PostgreSQL only: the daemon runs pg_receivewal and ships each segment into the repository. */
  wal_stream: z
    .strictObject({
      /** Physical replication slot, created when missing (default "holdfast"); also the receiver's application_name. */
      slot: z.string().regex(/^[a-z0-9_]{1,63}$/, "a slot name uses lower-case letters, digits and _ (at most 63)").optional(),
      /** Flush and acknowledge every write at once (list the slot in synchronous_standby_names for commits to wait for it). */
      synchronous: z.boolean().optional(),
      /** Folder pg_receivewal writes into (default <state_dir>/wal-stream/<database>). */
      spool_dir: z.string().min(1).optional(),
    })
    .optional(),
};

/** Top-level keys for the daemon. */
export const daemonOpsKeys = {
  retention: retentionSchema.optional(),
  timezone: timeZoneSchema.optional(),
  http: z
    .strictObject({
      listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "expected host:port such as 127.0.0.1:9187").optional(),
      token_file: z.string().min(1).optional(),
      /** One line "user:password": basic auth for browsers (the dashboard); the token still works beside it. */
      basic_auth_file: z.string().min(1).optional(),
      /** The read-only web dashboard at /dashboard (default on). */
      dashboard: z.boolean().optional(),
    })
    .optional(),
  alerts: z
    .strictObject({
      webhooks: z.array(z.string().url()).optional(),
      /** Argument array; the JSON payload arrives on stdin. */
      command: z.array(z.string().min(1)).min(1).optional(),
      repeat_after: duration.optional(),
    })
    .optional(),
  run_missed_on_start: z.boolean().optional(),
  /** Where the daemon keeps its small state file (last runs); default next to the config file. */
  state_dir: z.string().min(1).optional(),
};
