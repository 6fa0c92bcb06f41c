import { randomBytes } from "node:crypto";
import { z } from "zod";
import { HoldfastError } from "../errors.js";
import { backupIdFor } from "../repository/backup-id.js";
import { jsonBytes, readJson, sealed, writeJson } from "../repository/json-object.js";
import { canCreateExclusive, type ExclusiveCreate, type StorageBackend } from "../storage/backend.js";
import { replayable } from "../storage/retry.js";
import { Readable } from "node:stream";

/**
 * A drill's record, kept in the repository beside the backups it proves (drills/<id>.json, sealed,
 * and drills/<id>.html, the same report as a page). Append-only: written once by exclusive create,
 * never rewritten. The daemon's metrics and the dashboard read these records (listDrills): the
 * newest per database gives the last verdict, RTO and RPO.
 */
export const DRILLS_PREFIX = "drills/";
export const DRILL_ID = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

const phaseSchema = z.strictObject({
  name: z.enum(["fetch", "decode", "restore", "recovery", "checks"]),
  startedAt: z.iso.datetime(),
  ms: z.number().int().min(0),
  covers: z.string(),
});

const checkSchema = z.strictObject({
  layer: z.enum(["restore", "engine", "recovery-point", "tables", "sequences", "smoke", "objectives"]),
  name: z.string(),
  status: z.enum(["pass", "fail", "inconclusive", "skipped"]),
  detail: z.string(),
});

export const VERDICTS = ["PASS", "FAIL", "INCONCLUSIVE"] as const;

export const drillRecordSchema = z.strictObject({
  formatVersion: z.literal(1),
  id: z.string().regex(DRILL_ID),
  /** The name in holdfast.yaml when the drill was asked for by name, else the source. */
  database: z.string(),
  source: z.string(),
  engine: z.string(),
  backupId: z.string().optional(),
  /** "primary" or the offsite location the backup was read from. */
  from: z.string(),
  /** What the restore was asked to reach: the newest data, or a moment. */
  requested: z.strictObject({ kind: z.enum(["latest", "time"]), time: z.iso.datetime({ offset: true }).optional() }),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  verdict: z.enum(VERDICTS),
  /** Why the verdict is not PASS (empty for PASS). */
  reasons: z.array(z.string()),
  phases: z.array(phaseSchema),
  /** Sum of the phases: the time from "start restoring" to "proven usable". */
  rtoMs: z.number().int().min(0).optional(),
  rpo: z.strictObject({
    /** requested point − newest data held; absent when the newest data could not be established. */
    ms: z.number().int().optional(),
    requestedPoint: z.iso.datetime({ offset: true }),
    newestData: z.iso.datetime({ offset: true }).optional(),
    basis: z.string(),
  }),
  targets: z.strictObject({ rtoMs: z.number().int().optional(), rpoMs: z.number().int().optional() }),
  checks: z.array(checkSchema),
  recovery: z.record(z.string(), z.string()).optional(),
  scratch: z.string(),
  versions: z.strictObject({ holdfast: z.string(), database: z.string(), node: z.string() }),
  ranBy: z.strictObject({ user: z.string(), host: z.string(), pid: z.number().int() }),
  integrity: z.string().optional(),
});

export type DrillRecord = z.infer<typeof drillRecordSchema>;
export type DrillPhase = z.infer<typeof phaseSchema>;
export type DrillCheck = z.infer<typeof checkSchema>;

export function newDrillId(at: Date): string {
  return `${backupIdFor(at)}-${randomBytes(3).toString("hex")}`;
}

export const drillJsonKey = (id: string): string => `${DRILLS_PREFIX}${id}.json`;
export const drillHtmlKey = (id: string): string => `${DRILLS_PREFIX}${id}.html`;

/** Store the record and its page; refuses to replace an existing record (TARGET_EXISTS). */
export async function storeDrill(backend: StorageBackend, record: DrillRecord, html: string, signal?: AbortSignal): Promise<void> {
  const value = sealed(drillRecordSchema.parse(record));
  // The page first: a record, once visible, always has its page.
  await backend.put(drillHtmlKey(record.id), replayable(() => Readable.from([Buffer.from(html)])), { signal });
  if (await canCreateExclusive(backend, { signal })) {
    const created = await (backend as StorageBackend & ExclusiveCreate).createExclusive(drillJsonKey(record.id), jsonBytes(value), { signal });
    if (!created) throw new HoldfastError("TARGET_EXISTS", `drill record ${backend.location}/${drillJsonKey(record.id)} already exists; drill records are never replaced`);
  } else {
    // Ids carry 24 random bits after the second: a collision is not a practical concern here.
    await writeJson(backend, drillJsonKey(record.id), value, { signal });
  }
}

export interface DrillListing {
  drills: DrillRecord[];
  /** Records that could not be read or failed their seal: listed, never silently skipped. */
  damaged: { key: string; reason: string }[];
}

/** Every drill record, newest first. */
export async function listDrills(backend: StorageBackend, signal?: AbortSignal): Promise<DrillListing> {
  const keys: string[] = [];
  for await (const obj of backend.list(DRILLS_PREFIX, { signal })) if (obj.key.endsWith(".json")) keys.push(obj.key);
  const drills: DrillRecord[] = [];
  const damaged: DrillListing["damaged"] = [];
  for (const key of keys) {
    const read = await readJson(backend, key, drillRecordSchema, { signal });
    if (read.status === "ok") drills.push(read.value);
    else damaged.push({ key, reason: read.status === "missing" ? "removed while listing" : read.reason });
  }
  drills.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  return { drills, damaged };
}
