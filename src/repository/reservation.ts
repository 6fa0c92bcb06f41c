import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { HoldfastError } from "../errors.js";
import { canCreateExclusive, type ExclusiveCreate, type StorageBackend } from "../storage/backend.js";
import { backupIdFor } from "./backup-id.js";
import { jsonBytes, readJson, writeJson } from "./json-object.js";
import { backupPrefix, isReservationKey, reservationKey } from "./layout.js";
import { BACKUP_KINDS } from "./manifest.js";

export const reservationSchema = z.strictObject({
  formatVersion: z.literal(1),
  id: z.string(),
  token: z.string(),
  engine: z.string(),
  source: z.string(),
  kind: z.enum(BACKUP_KINDS),
  /** The lock the writer holds while it writes (repository/lock.ts scope). */
  lockScope: z.string(),
  pid: z.number().int(),
  hostname: z.string(),
  startedAt: z.iso.datetime(),
});
export type Reservation = z.infer<typeof reservationSchema>;

export type ReservationRequest = Pick<Reservation, "engine" | "source" | "kind" | "lockScope">;

const MAX_SUFFIX = 10_000;

/**
 * Reserve the id of a backup starting at `at`: its second, or …-2, …-3 when that second is taken.
 * Atomic, never "checked then used":
 *  - where the backend can create exclusively (local folder: O_EXCL; S3 servers that honour
 *    If-None-Match), the reservation object is created exclusively;
 *  - elsewhere, a claim with a unique name is written and the id's folder listed: the id is ours
 *    only if our claim is alone there (see repository/claims.ts for why two writers can't both win).
 * In both cases an id whose folder already holds anything else (an older backup) is skipped.
 */
export async function reserveId(backend: StorageBackend, at: Date, request: ReservationRequest, signal?: AbortSignal): Promise<Reservation> {
  const exclusive = await canCreateExclusive(backend, { signal });
  const base = backupIdFor(at);
  for (let n = 1; n <= MAX_SUFFIX; n++) {
    signal?.throwIfAborted();
    const id = n === 1 ? base : `${base}-${n}`;
    const reservation: Reservation = {
      formatVersion: 1,
      id,
      token: `${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`,
      ...request,
      pid: process.pid,
      hostname: hostname(),
      startedAt: at.toISOString(),
    };
    const key = exclusive ? reservationKey(id) : reservationKey(id, reservation.token);
    if (exclusive) {
      if (!(await (backend as StorageBackend & ExclusiveCreate).createExclusive(key, jsonBytes(reservation), { signal }))) continue;
    } else {
      await writeJson(backend, key, reservation, { signal });
    }
    if (await aloneIn(backend, backupPrefix(id), key, signal)) return reservation;
    await backend.delete(key).catch(() => undefined);
    // Another writer took this second as well: a random pause so we don't meet again at -n+1.
    if (!exclusive) await sleep(Math.random() * 40, undefined, { signal });
  }
  throw new HoldfastError("STORAGE_FAILED", `could not reserve a backup id for ${base} in ${backend.location} after ${MAX_SUFFIX} attempts`);
}

async function aloneIn(backend: StorageBackend, prefix: string, own: string, signal?: AbortSignal): Promise<boolean> {
  for await (const obj of backend.list(prefix, { signal })) if (obj.key !== own) return false;
  return true;
}

/** The reservation of an id (for reporting interrupted backups), if one can be read. */
export async function readReservation(backend: StorageBackend, keys: string[]): Promise<Reservation | undefined> {
  for (const key of keys.filter(isReservationKey)) {
    const read = await readJson(backend, key, reservationSchema);
    if (read.status === "ok") return read.value;
  }
  return undefined;
}
