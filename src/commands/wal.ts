import { basename, isAbsolute, resolve } from "node:path";
import { HoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { WalArchive, type PushOutcome } from "../repository/wal-archive.js";
import { prefetchAfter, takeFromSpool } from "../repository/wal-prefetch.js";
import { recordOrPartial } from "../repository/wal-partial.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";

/**
 * archive_command: `holdfast wal-push %p`. Needs only the repository's public recipients, so it
 * never runs scrypt; one Node process per segment is the whole cost (see bench/pitr.ts).
 */
export async function walPush(path: string, settings: Settings, ctx: CommandContext): Promise<PushOutcome & { file: string }> {
  const file = basename(path);
  WalArchive.nameOf(file);
  const { repo } = await openRepository(settings, "no");
  const archive = new WalArchive(repo.backend);
  const outcome = await archive.push(isAbsolute(path) ? path : resolve(path), file, { compression: settings.compression, recipients: repo.recipients }, ctx.signal).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException)?.code === "ENOENT" || (err instanceof HoldfastError && err.code === "NOT_FOUND")) {
      throw new HoldfastError("SOURCE_MISSING", `WAL file ${path} does not exist`, { hint: "archive_command must pass %p (the path relative to the data directory)" });
    }
    throw err;
  });
  ctx.log.info({ file, status: outcome.status, storedBytes: outcome.record.file.storedBytes }, "wal-push");
  return { ...outcome, file };
}

/**
 * restore_command: `holdfast wal-fetch %f %p`. Exit 0 with the file in place, or NOT_FOUND when
 * the archive does not hold it (PostgreSQL then ends recovery or tries another timeline). The key
 * is unlocked only for a file that exists and is not already prefetched (see wal-prefetch.ts).
 */
export async function walFetch(fileName: string, dest: string, settings: Settings, ctx: CommandContext, options: { prefetch?: number } = {}): Promise<void> {
  const wal = WalArchive.nameOf(fileName);
  if (await takeFromSpool(dest, fileName)) {
    ctx.log.debug({ file: fileName }, "wal-fetch from prefetch spool");
    return;
  }
  const { repo } = await openRepository(settings, "no");
  const archive = new WalArchive(repo.backend);
  // A stream's last segment may only exist as <segment>.partial (see wal-partial.ts).
  const record = await recordOrPartial(archive, fileName);
  if (!record) throw new HoldfastError("NOT_FOUND", `WAL file ${fileName} is not in the archive at ${repo.backend.location}`);
  const keys = await repo.unlock({ passphrase: settings.passphrase, identities: settings.identities });
  await archive.fetchRecord(record, dest, keys, ctx.signal);
  const prefetched = await prefetchAfter(archive, wal, record.file.contentBytes, options.prefetch ?? 8, dest, keys, ctx.signal).catch((err: unknown) => {
    ctx.log.warn({ file: fileName, error: (err as Error).message }, "prefetch failed; later segments will be fetched one by one");
    return 0;
  });
  ctx.log.debug({ file: fileName, prefetched }, "wal-fetch");
}
