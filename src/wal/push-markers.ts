import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { parseWalFileName } from "./names.js";

/**
 * Asynchronous archiving, the way pgBackRest's archive-push spools it: when PostgreSQL asks for one
 * WAL file, the others it has marked ready (pg_wal/archive_status/<name>.ready) are pushed in the
 * same process, and each one durably stored and recorded leaves a marker in
 * pg_wal/holdfast-archived/. PostgreSQL's later call for that file finds the marker and returns at
 * once: the archive_command setup-archiving writes tests the marker in /bin/sh before Node starts, and
 * the lean entry (cli/wal-push-main.ts) takes it before anything heavy is loaded. Only plain Node
 * modules here.
 *
 * A marker holds the repository it was pushed to: archive_command pointed elsewhere since then
 * does a real push. It is taken (deleted) when used; markers of files PostgreSQL no longer has
 * ready are removed by the next batch. pg_basebackup copies no pg_wal contents, so a restored
 * cluster starts without markers.
 */
export const MARKER_DIR = "holdfast-archived";
const STATUS_DIR = "archive_status";

function markerPath(walPath: string, name: string): string {
  return join(dirname(walPath), MARKER_DIR, name);
}

/** true when a batch already pushed this file to `repo`; the marker is taken. */
export async function takeMarker(walPath: string, repo: string): Promise<boolean> {
  const path = markerPath(walPath, basename(walPath));
  const text = await readFile(path, "utf8").catch(() => undefined);
  if (text === undefined || text !== markerText(repo)) return false;
  await rm(path, { force: true });
  return true;
}

/** Written (and synced) only once the file is stored and recorded in the repository. */
export async function writeMarker(walPath: string, name: string, repo: string): Promise<void> {
  await mkdir(join(dirname(walPath), MARKER_DIR), { recursive: true, mode: 0o700 });
  const temp = `${markerPath(walPath, name)}.tmp`;
  const handle = await open(temp, "w", 0o600);
  try {
    await handle.writeFile(markerText(repo));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, markerPath(walPath, name));
}

/** What a marker holds; archive_command's shell test (commands/setup-archiving.ts) compares it too. */
export function markerText(repo: string): string {
  return `holdfast wal-push: archived to ${repo}\n`;
}

/**
 * The other WAL files PostgreSQL has marked ready next to walPath (oldest first, at most `limit`),
 * or none when walPath is not in a pg_wal folder. Also drops markers of files no longer ready.
 */
export async function readyNeighbours(walPath: string, limit: number): Promise<string[]> {
  const dir = dirname(walPath);
  const status = await readdir(join(dir, STATUS_DIR)).catch(() => undefined);
  if (!status) return [];
  const ready = new Set(status.filter((n) => n.endsWith(".ready")).map((n) => n.slice(0, -".ready".length)).filter((n) => parseWalFileName(n)));
  for (const name of await readdir(join(dir, MARKER_DIR)).catch(() => [] as string[])) {
    if (!ready.has(name.replace(/\.tmp$/, "")) || name.endsWith(".tmp")) await rm(join(dir, MARKER_DIR, name), { force: true });
  }
  const own = basename(walPath);
  const marked = new Set(await readdir(join(dir, MARKER_DIR)).catch(() => [] as string[]));
  return [...ready].filter((n) => n !== own && !marked.has(n)).sort(byArchiveOrder).slice(0, limit);
}

/** PostgreSQL archives .history files first, then in name order (pgarch.c). */
function byArchiveOrder(a: string, b: string): number {
  const ha = a.endsWith(".history") ? 0 : 1;
  const hb = b.endsWith(".history") ? 0 : 1;
  return ha - hb || (a < b ? -1 : a > b ? 1 : 0);
}
