import pLimit from "p-limit";
import { z } from "zod";
import type { StorageBackend } from "../storage/backend.js";
import { backupPrefix } from "./layout.js";
import { readJson, writeJson } from "./json-object.js";

/**
 * The latest verification of a backup, kept beside it (backups/<id>/verify.json) so that it
 * leaves with the backup. Retention reads it to keep a minimum of verified backups; the daemon
 * and `holdfast status` report it. Absent means "never verified".
 */
export const verificationSchema = z.strictObject({
  formatVersion: z.literal(1),
  backupId: z.string(),
  verifiedAt: z.iso.datetime(),
  ok: z.boolean(),
  deep: z.boolean(),
  error: z.string().optional(),
});

export type VerificationRecord = z.infer<typeof verificationSchema>;

export const VERIFICATION_NAME = "verify.json";

export function verificationKey(id: string): string {
  return `${backupPrefix(id)}${VERIFICATION_NAME}`;
}

export async function recordVerification(backend: StorageBackend, record: VerificationRecord): Promise<void> {
  await writeJson(backend, verificationKey(record.backupId), verificationSchema.parse(record));
}

/** undefined when never verified; an unreadable record counts as never verified. */
export async function readVerification(backend: StorageBackend, id: string): Promise<VerificationRecord | undefined> {
  const read = await readJson(backend, verificationKey(id), verificationSchema);
  return read.status === "ok" ? read.value : undefined;
}

/** The records of many backups at once, by id (missing ids were never verified). */
export async function readVerifications(backend: StorageBackend, ids: readonly string[]): Promise<Map<string, VerificationRecord>> {
  const out = new Map<string, VerificationRecord>();
  const limit = pLimit(16); // bounded open files at any repository size
  const records = await Promise.all(ids.map((id) => limit(() => readVerification(backend, id))));
  records.forEach((r, i) => r && out.set(ids[i]!, r));
  return out;
}
