import { hostname } from "node:os";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { sweepAbandoned } from "../engines/abandoned.js";
import { z } from "zod";
import { HoldfastError } from "../errors.js";
import { processAlive } from "../repository/claims.js";
import { stopCluster } from "./restored-cluster.js";

/**
 * Scratch folders a drill restores into (a SQLite file, a PostgreSQL data directory). A folder is
 * the drill's own only while it holds the marker written when it was created or adopted empty:
 * `<folder>/.holdfast-drill.json` naming the drill, the process and the host. A folder whose
 * process is gone from this host (kill -9, power loss) is swept by the next drill: its server
 * stopped, the folder removed.
 */
export const MARKER = ".holdfast-drill.json";
export const FOLDER_PREFIX = "holdfast-drill-";
const CLAIM_PREFIX = ".holdfast-drill-claim-";

export const markerSchema = z.strictObject({ drillId: z.string(), pid: z.number().int(), host: z.string(), startedAt: z.string() });
export type ScratchMarker = z.infer<typeof markerSchema>;

export function markerFor(drillId: string): ScratchMarker {
  return { drillId, pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
}

/** Whether a marker names a drill that can no longer be running. */
export function abandoned(marker: ScratchMarker): boolean {
  return marker.host === hostname() && marker.pid !== process.pid && !processAlive(marker.pid);
}

async function readMarker(folder: string): Promise<ScratchMarker | undefined> {
  const text = await readFile(join(folder, MARKER), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return markerSchema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/**
 * Make `folder` this drill's: create it, or adopt it when it is empty or an abandoned drill's.
 * Anything else is refused (TARGET_EXISTS): a drill never writes into a folder it does not own.
 */
export async function claimFolder(folder: string, drillId: string): Promise<void> {
  const entries = await readdir(folder).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw new HoldfastError("TARGET_EXISTS", `cannot use ${folder} as a drill's scratch folder: ${err.message}`);
  });
  if (entries === undefined) return createMarked(folder, drillId);
  if (entries.length > 0) {
    const marker = await readMarker(folder);
    if (!marker || !abandoned(marker)) {
      const whose = marker ? `it belongs to drill ${marker.drillId} (pid ${marker.pid} on ${marker.host}), still running` : "it is not empty and holds no drill's marker";
      throw new HoldfastError("TARGET_EXISTS", `scratch folder ${folder} refused: ${whose}`, { hint: "give --scratch an empty or new folder; Holdfast removes what it creates there" });
    }
    await releaseFolder(folder);
    return createMarked(folder, drillId);
  }
  await writeFile(join(folder, MARKER), JSON.stringify(markerFor(drillId)) + "\n", { mode: 0o600, flag: "wx" });
}

/** A new folder appears with its marker already inside (built aside, then renamed into place). */
async function createMarked(folder: string, drillId: string): Promise<void> {
  const parent = dirname(folder);
  await mkdir(parent, { recursive: true, mode: 0o700 });
  const building = await mkdtemp(join(parent, `${CLAIM_PREFIX}${process.pid}-`));
  try {
    await writeFile(join(building, MARKER), JSON.stringify(markerFor(drillId)) + "\n", { mode: 0o600, flag: "wx" });
    await rename(building, folder);
  } catch (err) {
    await rm(building, { recursive: true, force: true });
    throw new HoldfastError("TARGET_EXISTS", `cannot create the drill's scratch folder ${folder}: ${(err as Error).message}`);
  }
}

/** Stop a server left running in the folder's data directory, then remove the folder. Never throws. */
export async function releaseFolder(folder: string): Promise<void> {
  await stopCluster(join(folder, "data"));
  await rm(folder, { recursive: true, force: true }).catch(() => undefined);
}

/** Remove the abandoned drill folders directly inside `parent`; returns the folders removed. */
export async function sweepFolders(parent: string): Promise<string[]> {
  await sweepAbandoned(parent, CLAIM_PREFIX);
  const removed: string[] = [];
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith(FOLDER_PREFIX)) continue;
    const folder = join(parent, name);
    const marker = await readMarker(folder);
    if (!marker || !abandoned(marker)) continue;
    await releaseFolder(folder);
    removed.push(folder);
  }
  return removed;
}
