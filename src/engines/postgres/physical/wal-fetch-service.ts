import { createServer, type Server, type Socket } from "node:net";
import { chmod, chown, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgeKeys } from "../../../pipeline/age.js";
import type { WalArchive } from "../../../repository/wal-archive.js";
import { recordOrPartial } from "../../../repository/wal-partial.js";
import { spoolDirFor } from "../../../repository/wal-prefetch.js";
import { parseWalFileName, segmentName, segmentNumber } from "../../../wal/names.js";
import { sweepAbandoned } from "../../abandoned.js";
import type { EngineLog } from "../../engine.js";

/**
 * The WAL fetch service of a point-in-time restore. The restoring process has the repository key
 * unlocked already; recovery's restore_command (cli/wal-fetch-client.ts) asks this process for
 * each file instead of starting the whole CLI and paying a scrypt per call. It reads ahead: up to
 * `window` segments after the last one asked for, `parallel` at a time, each verified (stored
 * hash, decryption, content SHA-256) and written to a temporary name before it is renamed into
 * the spool (pg_wal/holdfast-prefetch), owned by the server's OS user, so restore_command's shell
 * takes it with a plain `mv` and no process start at all.
 *
 * Why a Unix socket rather than an identity file handed to the recovery: the key never leaves
 * this process's memory (nothing secret on disk or argv, nothing to forget to delete), and one
 * process keeps the read-ahead going across calls. The socket lives in a folder of its own,
 * mode 0700 and owned by the server's OS user, named `hf-walfetch-<pid>-…` in the temporary
 * folder: a restore that was killed leaves it behind and the next restore sweeps it
 * (sweepAbandoned). Without the service, the client exits with a status PostgreSQL treats as
 * fatal, so a recovery never mistakes an unreachable service for the end of the archive.
 */
export const FETCH_SERVICE_PREFIX = "hf-walfetch-";

/** How often the spool is looked at for room (recovery replays a 16 MiB segment in ~50–100 ms). */
const REFILL_MS = 25;

export interface WalFetchServiceOptions {
  wal: WalArchive;
  keys?: AgeKeys;
  dataDir: string;
  owner: { uid: number; gid: number };
  segmentSize: number;
  /** Segments kept ready in the spool ahead of recovery. */
  window: number;
  /** Segments fetched at once. */
  parallel: number;
  /** The first segment recovery will ask for (the base backup's start): read-ahead begins before the server starts. */
  firstSegment?: string;
  log?: EngineLog;
}

export interface WalFetchService {
  socketPath: string;
  /** Files handed to recovery through the socket, segments fetched in all (read-ahead included). */
  stats(): { requests: number; fetched: number };
  /** The first error a file recovery asked for ran into (a damaged segment), if any. */
  failure(): Error | undefined;
  /** Stop serving, wait for fetches under way, remove the socket folder and the spool. */
  close(): Promise<void>;
}

/** The folder the socket folder goes in (socket paths are limited to ~100 bytes). */
export function serviceBaseDir(): string {
  return /^[\w./-]{1,60}$/.test(tmpdir()) ? tmpdir() : "/tmp";
}

export async function startWalFetchService(o: WalFetchServiceOptions): Promise<WalFetchService> {
  const base = serviceBaseDir();
  await sweepAbandoned(base, FETCH_SERVICE_PREFIX);
  const socketDir = await mkdtemp(join(base, `${FETCH_SERVICE_PREFIX}${process.pid}-`));
  const spool = spoolDirFor(join(o.dataDir, "pg_wal", "x"));
  const abort = new AbortController();
  const inflight = new Map<string, Promise<boolean>>();
  const stats = { requests: 0, fetched: 0 };
  let failure: Error | undefined;
  let cursor: { timeline: number; next: number } | undefined;
  let endReached = false;
  let pumping = false;
  let closed = false;
  let closing: Promise<void> | undefined;

  const inSpool = (name: string): Promise<boolean> => stat(join(spool, name)).then(() => true, () => false);

  /** true: the file is in the spool; false: the archive does not hold it. */
  const fetch = (name: string): Promise<boolean> => {
    const running = inflight.get(name);
    if (running) return running;
    const job = (async () => {
      // A stream's last segment may only exist as <segment>.partial (see wal-partial.ts).
      const record = await recordOrPartial(o.wal, name);
      if (!record) return false;
      await o.wal.fetchRecord(record, join(spool, name), o.keys, abort.signal, { owner: o.owner });
      stats.fetched++;
      return true;
    })().finally(() => inflight.delete(name));
    inflight.set(name, job);
    return job;
  };

  /** Start fetches until the window is full, `parallel` at a time; stops at the archive's end. */
  const pump = async (): Promise<void> => {
    if (pumping || closed) return;
    pumping = true;
    try {
      while (!closed && cursor && !endReached && inflight.size < o.parallel) {
        const spooled = (await readdir(spool).catch(() => [] as string[])).filter((n) => parseWalFileName(n)).length;
        if (spooled + inflight.size >= o.window) break;
        const name = segmentName(cursor.timeline, cursor.next++, o.segmentSize);
        if (inflight.has(name) || (await inSpool(name))) continue;
        fetch(name).then(
          (found) => {
            if (!found) endReached = true;
            void pump();
          },
          (err: unknown) => {
            // Read-ahead only: the segment may lie beyond the target. Fetched again (and reported) if asked for.
            endReached = true;
            if (!closed) o.log?.warn({ file: name, error: (err as Error).message }, "WAL read-ahead stopped");
          },
        );
      }
    } finally {
      pumping = false;
    }
  };

  /** Recovery asked for (timeline, segno): read ahead from there, drop what it has moved past. */
  const follow = async (timeline: number, segno: number, asked: string): Promise<void> => {
    endReached = false;
    if (!cursor || cursor.timeline !== timeline || cursor.next <= segno || cursor.next > segno + o.window + 1) cursor = { timeline, next: segno + 1 };
    for (const name of await readdir(spool).catch(() => [] as string[])) {
      const wal = parseWalFileName(name);
      if (name === asked || wal?.kind !== "segment") continue;
      if (wal.timeline !== timeline || segmentNumber(name, o.segmentSize) < segno) await rm(join(spool, name), { force: true });
    }
  };

  const answer = async (name: string): Promise<string> => {
    const wal = parseWalFileName(name);
    if (!wal) return `error "${name}" is not a WAL file name`;
    stats.requests++;
    if (wal.kind === "segment") await follow(wal.timeline, segmentNumber(name, o.segmentSize), name);
    void pump();
    if (await inSpool(name)) return "ok";
    try {
      return (await fetch(name)) ? "ok" : "missing";
    } catch (err) {
      failure ??= err as Error;
      o.log?.warn({ file: name, error: (err as Error).message }, "WAL fetch failed");
      return `error ${(err as Error).message.replace(/\s+/g, " ")}`;
    } finally {
      void pump();
    }
  };

  const sockets = new Set<Socket>();
  const serve = (socket: Socket): void => {
    let text = "";
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.setEncoding("utf8");
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: string) => {
      text += chunk;
      const end = text.indexOf("\n");
      if (end < 0) {
        if (text.length > 256) socket.destroy();
        return;
      }
      void answer(text.slice(0, end).trim()).then((reply) => socket.end(`${reply}\n`));
    });
  };

  let server: Server | undefined;
  try {
    await chmod(socketDir, 0o700);
    await chown(socketDir, o.owner.uid, o.owner.gid);
    await rm(spool, { recursive: true, force: true });
    await mkdir(spool, { mode: 0o700 });
    await chown(spool, o.owner.uid, o.owner.gid);
    const socketPath = join(socketDir, "fetch.sock");
    server = createServer(serve);
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(socketPath, () => resolve());
    });
    await chmod(socketPath, 0o600);
    await chown(socketPath, o.owner.uid, o.owner.gid);
    if (o.firstSegment && parseWalFileName(o.firstSegment)?.kind === "segment") {
      // The first segment itself is fetched too: recovery asks for it first.
      cursor = { timeline: parseWalFileName(o.firstSegment)!.timeline, next: segmentNumber(o.firstSegment, o.segmentSize) };
      void pump();
    }
    // restore_command's shell takes spooled files with `mv`, without a word to this process: look
    // at the spool often enough that the window is refilled before recovery reaches its end.
    const refill = setInterval(() => void pump(), REFILL_MS);
    refill.unref();
    return {
      socketPath,
      stats: () => ({ ...stats }),
      failure: () => failure,
      close: () => (closing ??= (async () => {
        closed = true;
        clearInterval(refill);
        abort.abort();
        const stopped = new Promise<void>((resolve) => server!.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await stopped;
        await Promise.allSettled([...inflight.values()]);
        await rm(socketDir, { recursive: true, force: true });
        await rm(spool, { recursive: true, force: true });
      })()),
    };
  } catch (err) {
    server?.close();
    await rm(socketDir, { recursive: true, force: true });
    throw err;
  }
}
