import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { WalArchive, type WalWriteSettings } from "../repository/wal-archive.js";
import { pushPartial } from "../repository/wal-partial.js";
import { parseWalFileName } from "./names.js";

/**
 * pg_receivewal's folder, emptied into the repository. pg_receivewal names a file by its final
 * name only once it is complete and flushed (a segment being written is `<segment>.partial`; a
 * .history file is written under a temporary name first), so every plainly named file is whole.
 * Each is stored with wal-push's guarantees (WalArchive.push: durable data, then the record;
 * the same content already archived — say by archive_command — is fine; different content is
 * refused) and removed from the spool only once recorded.
 */
export interface ShipResult {
  /** Files newly archived or found archived with the same content, then removed from the spool. */
  shipped: string[];
  /** The partial segment stored (stop only). */
  partial?: { name: string; status: string };
}

export async function shipCompleted(spool: string, archive: WalArchive, settings: WalWriteSettings, signal?: AbortSignal): Promise<ShipResult> {
  const shipped: string[] = [];
  // Name order: .history before the segments of its timeline, segments oldest first.
  for (const name of (await readdir(spool)).sort()) {
    const wal = parseWalFileName(name);
    if (!wal || wal.kind === "partial") continue;
    // A refusal (different content archived) throws and stops here: the file stays, the next round retries.
    await archive.push(join(spool, name), name, settings, signal);
    await rm(join(spool, name));
    shipped.push(name);
  }
  return { shipped };
}

/**
 * After pg_receivewal has stopped: ship what completed, then the current partial segment. The
 * partial stays in the spool: pg_receivewal restarts that segment from its beginning on the next
 * start, and its completed form later supersedes the archived partial.
 */
export async function shipAll(spool: string, archive: WalArchive, settings: WalWriteSettings, signal?: AbortSignal): Promise<ShipResult> {
  const result = await shipCompleted(spool, archive, settings, signal);
  const partials = (await readdir(spool)).filter((n) => parseWalFileName(n)?.kind === "partial").sort();
  const newest = partials.at(-1);
  if (newest) {
    const outcome = await pushPartial(archive, join(spool, newest), newest, settings, signal);
    result.partial = { name: newest, status: outcome.status };
  }
  return result;
}
