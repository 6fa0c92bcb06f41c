import { HoldfastError } from "../errors.js";
import { WalArchive, sha256OfFile, storedSuffix, type WalRecord, type WalWriteSettings } from "./wal-archive.js";

/**
 * The unfinished last segment of a WAL stream, archived as `<segment>.partial` (the name
 * pg_receivewal and PostgreSQL themselves give it). pg_receivewal writes it at full segment size,
 * zero-filled after the last record it received, so it is the segment's valid beginning.
 *
 * Unlike a completed segment it may be stored again holding more WAL (each stop of the stream
 * ships it). Its data, like every WAL file's, goes under a name of its own (WalArchive.store), so
 * the record in place always points at data that matches it; the record is replaced last and the
 * old data removed after.
 *
 * At restore, restore_command asks for the full segment name. When the archive has no such
 * segment, wal-fetch hands out the partial instead (as barman-wal-restore --partial does):
 * recovery replays it to its last record and, finding nothing after it, ends there.
 */
export type PartialOutcome = { status: "archived" | "already-archived"; record: WalRecord } | { status: "superseded" };

export function segmentOfPartial(fileName: string): string {
  const wal = WalArchive.nameOf(fileName);
  if (wal.kind !== "partial") throw new HoldfastError("USAGE", `"${fileName}" is not a .partial WAL file name`);
  return fileName.slice(0, 24);
}

/** Store (or replace) a partial segment; nothing to do once the completed segment is archived. */
export async function pushPartial(archive: WalArchive, path: string, fileName: string, settings: WalWriteSettings, signal?: AbortSignal): Promise<PartialOutcome> {
  const segment = segmentOfPartial(fileName);
  if (await archive.record(segment)) return { status: "superseded" };
  const local = await sha256OfFile(path);
  const existing = await archive.record(fileName);
  if (existing && existing.file.contentSha256 === local.sha256 && existing.file.contentBytes === local.bytes) return { status: "already-archived", record: existing };
  const record = await archive.store(path, WalArchive.nameOf(fileName), storedSuffix(settings), settings, signal);
  if (existing && existing.file.key !== record.file.key) await archive.backend.delete(existing.file.key, { signal });
  return { status: "archived", record };
}

/** The record restore_command should get for a segment: the segment itself, else its archived partial. */
export async function recordOrPartial(archive: WalArchive, fileName: string): Promise<WalRecord | undefined> {
  const record = await archive.record(fileName);
  if (record || WalArchive.nameOf(fileName).kind !== "segment") return record;
  return archive.record(`${fileName}.partial`);
}
