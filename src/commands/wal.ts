import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import pLimit from "p-limit";
import { HoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { WalArchive, type PushOutcome } from "../repository/wal-archive.js";
import { prefetchAfter, takeFromSpool } from "../repository/wal-prefetch.js";
import { recordOrPartial } from "../repository/wal-partial.js";
import type { CommandContext } from "./context.js";
import { readyNeighbours, takeMarker, writeMarker } from "../wal/push-markers.js";
import { openRepository } from "./open-repository.js";

/** Files pushed at once, and at most how many of PostgreSQL's ready files one call takes along. */
const PUSH_PARALLEL = 4;
const BATCH_LIMIT = 64;

export interface WalPushResult {
  file: string;
  /** "pushed-earlier": a previous call pushed it along with its own file (its marker was found). */
  status: PushOutcome["status"] | "pushed-earlier";
  /** Other ready files this call pushed (each now has a marker), and those that failed (pushed again when asked for). */
  pushedAlong: string[];
  failedAlong: string[];
}

/**
 * archive_command: `holdfast wal-push %p`. Needs only the repository's public recipients, so it
 * never runs scrypt. PostgreSQL calls it once per file, one at a time; so it also pushes, up to
 * PUSH_PARALLEL at once, every other file PostgreSQL has marked ready and leaves a marker for each
 * (wal/push-markers.ts): the later calls for them return without opening the repository. The file
 * asked for is acknowledged only once stored and recorded; a file already archived with other
 * content is refused, whether asked for or pushed along (then it has no marker, and fails when asked).
 */
export async function walPush(path: string, settings: Settings, ctx: CommandContext): Promise<WalPushResult> {
  const file = basename(path);
  WalArchive.nameOf(file);
  const abs = isAbsolute(path) ? path : resolve(path);
  if (await takeMarker(abs, settings.repo ?? "")) {
    ctx.log.debug({ file }, "wal-push: pushed earlier along with another file");
    return { file, status: "pushed-earlier", pushedAlong: [], failedAlong: [] };
  }
  const { repo } = await openRepository(settings, "no");
  const archive = new WalArchive(repo.backend);
  const write = { compression: settings.compression, recipients: repo.recipients };
  const push = (p: string, name: string) => archive.push(p, name, write, ctx.signal);
  const along = await readyNeighbours(abs, BATCH_LIMIT);
  const limit = pLimit(PUSH_PARALLEL);
  // The file asked for goes first; the others fill the remaining slots.
  const own = limit(() => push(abs, file));
  const pushedAlong: string[] = [];
  const failedAlong: string[] = [];
  const others = along.map((name) => limit(async () => {
    const other = join(dirname(abs), name);
    try {
      await push(other, name);
      await writeMarker(abs, name, settings.repo ?? "");
      pushedAlong.push(name);
    } catch (err) {
      failedAlong.push(name);
      ctx.log.warn({ file: name, error: (err as Error).message }, "wal-push: a ready file could not be pushed along; it is pushed again when PostgreSQL asks for it");
    }
  }));
  const [settled] = await Promise.allSettled([own, Promise.all(others)]);
  if (settled.status === "rejected") {
    const err = settled.reason as unknown;
    if ((err as NodeJS.ErrnoException)?.code === "ENOENT" || (err instanceof HoldfastError && err.code === "NOT_FOUND")) {
      throw new HoldfastError("SOURCE_MISSING", `WAL file ${path} does not exist`, { hint: "archive_command must pass %p (the path relative to the data directory)" });
    }
    throw err;
  }
  const outcome = settled.value;
  ctx.log.info({ file, status: outcome.status, storedBytes: outcome.record.file.storedBytes, pushedAlong: pushedAlong.length }, "wal-push");
  return { file, status: outcome.status, pushedAlong: pushedAlong.sort(), failedAlong: failedAlong.sort() };
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
