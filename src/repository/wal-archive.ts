import { createReadStream } from "node:fs";
import { chown, open, rename, rm } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { HoldfastError } from "../errors.js";
import type { StorageBackend } from "../storage/backend.js";
import type { AgeKeys } from "../pipeline/age.js";
import { FILE_EXTENSION, type CompressionSettings } from "../pipeline/compression.js";
import { openStoredFile, storeStream, type StoredFileRecord } from "../pipeline/assemble.js";
import { parseWalFileName, type WalFileName } from "../wal/names.js";
import { WAL_PREFIX, WAL_RECORD_SUFFIX, walDataKey, walRecordKey } from "./layout.js";
import { storedFileSchema } from "./manifest.js";
import { readAllText } from "./read-text.js";
import { readJson, sealed, writeJson } from "./json-object.js";

/**
 * The record written after a WAL file's data: its presence is what makes the file archived (as a
 * manifest does for a backup). It carries both hashes, so pushing the same file again can be told
 * apart from pushing different bytes under the same name.
 */
export const walRecordSchema = z.strictObject({
  formatVersion: z.literal(1),
  archivedAt: z.iso.datetime(),
  file: storedFileSchema,
  /** SHA-256 of the record's JSON without this field (json-object.ts sealed()). */
  integrity: z.string().optional(),
});
export type WalRecord = z.infer<typeof walRecordSchema>;

export interface ArchivedWalFile extends WalFileName {
  recordKey: string;
  /** When the record was written (storage modification time; the record has the exact time). */
  archivedAt: Date;
}

export interface PushOutcome {
  status: "archived" | "already-archived";
  record: WalRecord;
}

export interface WalWriteSettings {
  compression: CompressionSettings & { level: number };
  recipients?: string[];
}

export class WalArchive {
  constructor(readonly backend: StorageBackend) {}

  /** Validate a name handed over by PostgreSQL (%f, or the base name of %p). */
  static nameOf(fileName: string): WalFileName {
    const parsed = parseWalFileName(fileName);
    if (!parsed) {
      throw new HoldfastError("USAGE", `"${fileName}" is not a WAL segment, .history, .backup or .partial file name`, {
        hint: "archive_command passes %p, restore_command passes %f and %p",
      });
    }
    return parsed;
  }

  async record(fileName: string): Promise<WalRecord | undefined> {
    const wal = WalArchive.nameOf(fileName);
    const key = walRecordKey(wal.timelineHex, wal.name);
    const read = await readJson(this.backend, key, walRecordSchema);
    if (read.status === "invalid") throw new HoldfastError("CORRUPTED", `WAL record ${this.backend.location}/${key} is ${read.reason}`);
    return read.status === "ok" ? read.value : undefined;
  }


  /**
   * Store one WAL file. Idempotent: an archived file with the same content is a success; different
   * content under the same name is an error (PostgreSQL keeps the file and retries, loudly).
   * Data first, record last: a push killed at any point leaves no record, so the retry redoes it.
   */
  async push(path: string, fileName: string, settings: WalWriteSettings, signal?: AbortSignal): Promise<PushOutcome> {
    const wal = WalArchive.nameOf(fileName);
    const existing = await this.record(fileName);
    if (existing) {
      const local = await sha256OfFile(path);
      if (local.sha256 === existing.file.contentSha256 && local.bytes === existing.file.contentBytes) return { status: "already-archived", record: existing };
      throw new HoldfastError("CORRUPTED", `WAL file ${fileName} is already archived in ${this.backend.location} with different content (sha256 ${existing.file.contentSha256.slice(0, 16)}…, this one ${local.sha256.slice(0, 16)}…)`, {
        hint: "two clusters may be archiving into the same repository, or the repository belongs to another cluster; give each cluster its own repository",
      });
    }
    return { status: "archived", record: await this.store(path, wal, storedSuffix(settings), settings, signal) };
  }

  /**
   * Data, then the record pointing at it; returns the record in place afterwards. The data goes
   * under a name of its own (`<file>.<random>.zst.age`): two pushes of one file at once (PostgreSQL's
   * archive_command and the daemon's stream, or a retry beside a push that hung) used to write one
   * data key in turn, and the record written last could name the other's bytes, which then failed
   * their hash at restore. Now each record names data that only its own writer wrote. A push whose
   * record was replaced by another's (same content, checked) removes its own data.
   */
  async store(path: string, wal: WalFileName, suffix: string, settings: WalWriteSettings, signal?: AbortSignal): Promise<WalRecord> {
    const key = walDataKey(wal.timelineHex, wal.name, `.${randomBytes(8).toString("hex")}${suffix}`);
    const stored = await storeStream(createReadStream(path, { highWaterMark: 1 << 20 }), this.backend, wal.name, key, {
      // One segment is small: single-threaded zstd per segment, on worker threads so that a batch
      // of pushes compresses on every core while this thread hashes, encrypts and writes.
      compression: { ...settings.compression, threads: 0, offThread: true },
      recipients: settings.recipients,
      signal,
    });
    const record: WalRecord = { formatVersion: 1, archivedAt: new Date().toISOString(), file: stored };
    await writeJson(this.backend, walRecordKey(wal.timelineHex, wal.name), sealed(record), { signal, pretty: false });
    const now = await this.record(wal.name);
    if (!now || now.file.key === key) return record;
    // Another push of this file wrote its record after ours: its data is what the archive holds now.
    await this.backend.delete(key, { signal }).catch(() => undefined);
    if (now.file.contentSha256 !== stored.contentSha256 || now.file.contentBytes !== stored.contentBytes) {
      throw new HoldfastError("CORRUPTED", `WAL file ${wal.name} was archived in ${this.backend.location} at the same moment with different content (sha256 ${now.file.contentSha256.slice(0, 16)}…, this one ${stored.contentSha256.slice(0, 16)}…)`, {
        hint: "two clusters may be archiving into the same repository; give each cluster its own repository",
      });
    }
    return now;
  }

  /**
   * Restore one WAL file to dest, verified (stored hash, decryption, content hash). Written to a
   * temporary name and renamed, so PostgreSQL never sees a partial file. false when not archived.
   */
  async fetch(fileName: string, dest: string, keys: AgeKeys | undefined, signal?: AbortSignal): Promise<boolean> {
    const record = await this.record(fileName);
    if (!record) return false;
    await this.fetchRecord(record, dest, keys, signal);
    return true;
  }

  /** owner: the file is given to this user before it appears under its name (a restore running as root). */
  async fetchRecord(record: WalRecord, dest: string, keys: AgeKeys | undefined, signal?: AbortSignal, options: { owner?: { uid: number; gid: number } } = {}): Promise<void> {
    const temp = `${dest}.holdfast-partial`;
    try {
      const handle = await open(temp, "w", 0o600);
      await pipeline(await openStoredFile(this.backend, record.file, { keys, signal }), handle.createWriteStream(), { signal });
      if (options.owner) await chown(temp, options.owner.uid, options.owner.gid);
      await rename(temp, dest);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** The content of a small archived file (.history, .backup), verified. */
  async readText(fileName: string, keys: AgeKeys | undefined): Promise<string | undefined> {
    const record = await this.record(fileName);
    if (!record) return undefined;
    return readAllText(await openStoredFile(this.backend, record.file, { keys }));
  }

  /** Every archived WAL file (record present), in name order per timeline. */
  async list(signal?: AbortSignal): Promise<ArchivedWalFile[]> {
    const out: ArchivedWalFile[] = [];
    for await (const obj of this.backend.list(WAL_PREFIX, { signal })) {
      if (!obj.key.endsWith(WAL_RECORD_SUFFIX)) continue;
      const fileName = obj.key.slice(obj.key.lastIndexOf("/") + 1, -WAL_RECORD_SUFFIX.length);
      const parsed = parseWalFileName(fileName);
      if (parsed) out.push({ ...parsed, recordKey: obj.key, archivedAt: obj.modifiedAt });
    }
    return out;
  }
}

/** How a WAL file's data key ends: compression, then .age when encrypted. */
export function storedSuffix(settings: WalWriteSettings): string {
  return `${FILE_EXTENSION[settings.compression.algorithm]}${settings.recipients ? ".age" : ""}`;
}

export async function sha256OfFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}


export type { StoredFileRecord };
