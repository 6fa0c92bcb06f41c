import { open } from "node:fs/promises";

/**
 * fsync a WAL-mode database's -wal file, through a descriptor of our own (read-only: no content
 * change, only durability the application asked the next checkpoint to provide anyway).
 * The -wal file, not the database file: closing a descriptor of the database file would drop the
 * POSIX locks SQLite holds on it in this process. A missing -wal file is nothing to flush.
 */
export async function flushWal(databasePath: string): Promise<void> {
  const handle = await open(`${databasePath}-wal`, "r").catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
