import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { processAlive } from "../repository/claims.js";

/**
 * Temporaries are named `<prefix><pid>-<random>…`; those of a process that is gone from this host
 * (kill -9, power loss) are removed by the next run: snapshot folders in the staging folder,
 * half-written restores next to their target (with their -wal/-shm/-journal side files).
 */
export async function sweepAbandoned(dir: string, prefix: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (!pid || pid === process.pid || processAlive(pid)) continue;
    await rm(join(dir, name), { recursive: true, force: true });
  }
}
