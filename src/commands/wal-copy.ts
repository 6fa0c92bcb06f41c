import { HoldfastError } from "../errors.js";
import { engineByName } from "../engines/registry.js";
import { copyStoredFile } from "../repository/copy-stored.js";
import { sealed, writeJson } from "../repository/json-object.js";
import { WAL_PREFIX, WAL_RECORD_SUFFIX, walRecordKey } from "../repository/layout.js";
import type { Manifest } from "../repository/manifest.js";
import { WalArchive, type ArchivedWalFile } from "../repository/wal-archive.js";
import type { StorageBackend } from "../storage/backend.js";
import { parseLsn, segmentNumber, segmentOfLsn } from "../wal/names.js";
import type { CommandContext } from "./context.js";

/** What a WAL copy did: files copied now, and files the destination already held (same content). */
export interface WalCopyResult {
  copied: number;
  storedBytes: number;
  alreadyThere: number;
}

/** The WAL base backups need: every file from the earliest start segment on, from their timeline on, and every .history file. */
export interface WalScope {
  timeline: number;
  fromSegment: number;
  segmentSize: number;
}

/** How many WAL files are copied at once (each is one segment: small, many). */
const PARALLEL = 4;

/** The scope covering these backups' WAL, or undefined when none of them is a base backup. */
export function walScopeOf(manifests: Manifest[]): WalScope | undefined {
  let scope: WalScope | undefined;
  for (const m of manifests) {
    if (!engineByName(m.engine).usesWalArchive) continue;
    const d = m.details as { timeline: number; startLsn: string; walSegmentSize: number };
    const fromSegment = segmentOfLsn(parseLsn(d.startLsn), d.walSegmentSize);
    scope = { timeline: Math.min(d.timeline, scope?.timeline ?? d.timeline), fromSegment: Math.min(fromSegment, scope?.fromSegment ?? fromSegment), segmentSize: d.walSegmentSize };
  }
  return scope;
}

function inScope(f: ArchivedWalFile, scope: WalScope | undefined): boolean {
  if (!scope || f.kind === "history") return true;
  return f.timeline >= scope.timeline && segmentNumber(f.name, scope.segmentSize) >= scope.fromSegment;
}

/**
 * Bring dest's WAL archive up to date with source's (all of it, or the scope a base backup needs).
 * Only what is missing is copied; a file archived on both sides with different content is an
 * error, never overwritten. Each file's stored bytes are copied as they are and hash-checked on the
 * way and at the destination; its record is written after them, so a partially copied file is
 * never visible there. .history files go first, then segments in order.
 */
export async function copyWal(source: WalArchive, dest: StorageBackend, ctx: CommandContext, scope?: WalScope): Promise<WalCopyResult> {
  const files = (await source.list(ctx.signal)).filter((f) => inScope(f, scope));
  files.sort((a, b) => a.name.slice(8).localeCompare(b.name.slice(8)) || a.timeline - b.timeline);
  const there = new Set<string>();
  for await (const obj of dest.list(WAL_PREFIX, { signal: ctx.signal })) if (obj.key.endsWith(WAL_RECORD_SUFFIX)) there.add(obj.key);
  const target = new WalArchive(dest);
  const result: WalCopyResult = { copied: 0, storedBytes: 0, alreadyThere: 0 };
  const copyOne = async (f: ArchivedWalFile): Promise<void> => {
    const record = await source.record(f.name);
    if (!record) return; // removed by a prune while we listed
    if (there.has(walRecordKey(f.timelineHex, f.name))) {
      const theirs = await target.record(f.name);
      if (theirs && theirs.file.contentSha256 === record.file.contentSha256 && theirs.file.contentBytes === record.file.contentBytes) {
        result.alreadyThere++;
        return;
      }
      if (theirs) {
        throw new HoldfastError("CORRUPTED", `WAL file ${f.name} in ${dest.location} differs from the one in ${source.backend.location} (sha256 ${theirs.file.contentSha256.slice(0, 16)}… there, ${record.file.contentSha256.slice(0, 16)}… here); not overwritten`, {
          hint: "the offsite repository holds another cluster's WAL; give each cluster its own offsite location",
        });
      }
    }
    await copyStoredFile(source.backend, dest, record.file, ctx.signal);
    await writeJson(dest, walRecordKey(f.timelineHex, f.name), sealed(record), { signal: ctx.signal, pretty: false });
    result.copied++;
    result.storedBytes += record.file.storedBytes;
  };
  // Histories first, one by one; then segments a few at a time, in order. The first failure stops the rest.
  for (const f of files.filter((x) => x.kind === "history")) await copyOne(f);
  const segments = files.filter((x) => x.kind !== "history");
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < segments.length) {
      await copyOne(segments[next++]!).catch((err: unknown) => {
        failed = true;
        throw err;
      });
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  if (result.copied) ctx.log.info({ to: dest.location, files: result.copied, storedBytes: result.storedBytes }, "WAL copied");
  return result;
}
