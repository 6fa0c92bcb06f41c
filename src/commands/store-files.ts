import type { Snapshot, SnapshotFile } from "../engines/engine.js";
import type { StoredFileRecord } from "../pipeline/assemble.js";
import type { CommandContext } from "./context.js";

/** Stores one file of a snapshot; `onProgress` gets the content bytes stored so far. */
export type StoreOne = (file: SnapshotFile, signal: AbortSignal | undefined, onProgress: (bytes: number) => void) => Promise<StoredFileRecord>;

/**
 * Store a snapshot's files, in the order the engine gives them (the manifest lists them so).
 * One at a time unless the engine says its streams are independent (Snapshot.parallel): then up
 * to that many are compressed, encrypted, hashed and written at once. On the first failure the
 * others are aborted, and this rejects only once every started file has settled, so the caller's
 * clean-up of an incomplete backup never races a write still in flight.
 */
export async function storeSnapshotFiles(snapshot: Snapshot, ctx: CommandContext, store: StoreOne): Promise<StoredFileRecord[]> {
  const parallel = Math.max(1, Math.floor(snapshot.parallel ?? 1));
  if (parallel === 1) {
    const records: StoredFileRecord[] = [];
    for await (const file of snapshot.files) {
      const bar = ctx.progress(`backup ${file.name}`, file.size);
      try {
        records.push(await store(file, ctx.signal, (n) => bar.update(n)));
      } finally {
        bar.stop();
      }
    }
    return records;
  }
  const failed = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, failed.signal]) : failed.signal;
  const bar = ctx.progress(`backup (${parallel} files at a time)`);
  const storedBytes: number[] = [];
  const running: Promise<StoredFileRecord>[] = [];
  const inFlight = new Set<Promise<unknown>>();
  let firstError: { error: unknown } | undefined;
  try {
    for await (const file of snapshot.files) {
      // Never ask the engine for more open files than are being stored.
      while (inFlight.size >= parallel) await Promise.race(inFlight);
      if (firstError) {
        file.stream.destroy();
        break;
      }
      const slot = storedBytes.push(0) - 1;
      const task = store(file, signal, (n) => {
        storedBytes[slot] = n;
        bar.update(storedBytes.reduce((a, b) => a + b, 0));
      });
      const settled = task.then(
        () => undefined,
        (error: unknown) => {
          firstError ??= { error };
          failed.abort(error);
        },
      );
      inFlight.add(settled);
      void settled.then(() => inFlight.delete(settled));
      running.push(task);
    }
  } catch (err) {
    firstError ??= { error: err };
    failed.abort(err);
  }
  const results = await Promise.allSettled(running);
  bar.stop();
  if (firstError) throw firstError.error;
  return results.map((r) => (r as PromiseFulfilledResult<StoredFileRecord>).value);
}
