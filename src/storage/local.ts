import { constants as fsConstants } from "node:fs";
import { mkdir, open, readdir, rename, rmdir, stat, unlink, rm } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HoldfastError, fromSystemError } from "../errors.js";
import type { ByteRange, ExclusiveCreate, IncompleteUploadSweeper, OperationOptions, StorageBackend, StoredObject } from "./backend.js";
import { assertSafeKey } from "./backend.js";

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Temporary files carry this prefix; list() never shows them and they are never a valid key. */
export const TEMP_PREFIX = ".tmp-";

/**
 * A repository in a local folder. Atomic visibility: write to a temporary name in the same
 * folder, fsync the file, rename over the final name, fsync the folder.
 */
export class LocalBackend implements StorageBackend, ExclusiveCreate, IncompleteUploadSweeper {
  readonly location: string;

  constructor(readonly root: string) {
    this.location = root;
  }

  private path(key: string): string {
    assertSafeKey(key);
    return join(this.root, ...key.split("/"));
  }

  async put(key: string, body: Readable, options: OperationOptions = {}): Promise<StoredObject> {
    const target = this.path(key);
    const temp = join(dirname(target), `${TEMP_PREFIX}${randomBytes(6).toString("hex")}`);
    try {
      const out = await this.createInDir(dirname(target), () => open(temp, "wx", FILE_MODE));
      await pipeline(body, out.createWriteStream(), { signal: options.signal });
      await fsyncPath(temp);
      await rename(temp, target);
      await fsyncPath(dirname(target));
      const s = await stat(target);
      return { key, size: s.size, modifiedAt: s.mtime };
    } catch (err) {
      await rm(temp, { force: true });
      await this.removeEmptyParents(dirname(target)); // leave no empty backups/<id>/ behind
      throw fromSystemError(err, `${this.location}/${key}`);
    }
  }

  async createExclusive(key: string, body: Buffer): Promise<boolean> {
    const target = this.path(key);
    try {
      const handle = await this.createInDir(dirname(target), () => open(target, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, FILE_MODE));
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw fromSystemError(err, `${this.location}/${key}`);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.path(key);
    try {
      const handle = await open(path, "r");
      return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: 1 << 20 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new HoldfastError("NOT_FOUND", `object not found: ${this.location}/${key}`);
      }
      throw fromSystemError(err, `${this.location}/${key}`);
    }
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { key, size: s.size, modifiedAt: s.mtime } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") {
        return undefined;
      }
      throw fromSystemError(err, `${this.location}/${key}`);
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const found: StoredObject[] = [];
    await this.walk(this.root, "", prefix, found);
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  private async walk(dir: string, keyPrefix: string, wanted: string, out: StoredObject[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw fromSystemError(err, dir);
    }
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const key = keyPrefix + entry.name;
      if (entry.isDirectory()) {
        // Descend only where the prefix can still match.
        if (wanted.startsWith(key + "/") || (key + "/").startsWith(wanted)) {
          await this.walk(join(dir, entry.name), key + "/", wanted, out);
        }
      } else if (entry.isFile() && key.startsWith(wanted)) {
        const s = await stat(join(dir, entry.name)).catch(() => undefined);
        if (s) out.push({ key, size: s.size, modifiedAt: s.mtime });
      }
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.path(key);
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw fromSystemError(err, `${this.location}/${key}`);
    }
    await this.removeEmptyParents(dirname(path));
  }

  sweepIncomplete(maxAgeMs: number): Promise<number> {
    return this.sweepTemporaries(maxAgeMs);
  }

  /** Remove leftover temporary files older than maxAgeMs (from a killed put). */
  async sweepTemporaries(maxAgeMs: number): Promise<number> {
    let removed = 0;
    const visit = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await visit(full);
        else if (entry.name.startsWith(TEMP_PREFIX)) {
          const s = await stat(full).catch(() => undefined);
          if (s && Date.now() - s.mtimeMs > maxAgeMs) {
            await rm(full, { force: true });
            removed++;
          }
        }
      }
    };
    await visit(this.root);
    return removed;
  }

  /**
   * Create a file in dir, making dir first. A delete elsewhere in the same folder removes it when it
   * becomes empty (removeEmptyParents), possibly between our mkdir and our create: then make it again.
   */
  private async createInDir<T>(dir: string, create: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      await this.ensureDir(dir);
      try {
        return await create();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 20) throw err;
      }
    }
  }

  /**
   * mkdir -p, again when a level vanished under it: another writer's delete can remove a parent
   * that became empty (removeEmptyParents) between two levels of our mkdir (ENOENT, yet every level
   * can be created). Any other cause is the error.
   */
  private async ensureDir(dir: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dir, { recursive: true, mode: DIR_MODE });
        return;
      } catch (err) {
        const cause = await mkdirCause(dir, err);
        if (cause !== err || attempt >= 20) throw fromSystemError(cause, dir);
      }
    }
  }

  private async removeEmptyParents(dir: string): Promise<void> {
    let current = dir;
    while (current.startsWith(this.root + sep) && current !== this.root) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (or already gone): stop climbing
      }
      current = dirname(current);
    }
  }
}

/** Flush a file or folder to disk (a rename is durable only once its folder is fsynced). */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Node's recursive mkdir reports ENOENT when a level cannot be created for another reason (a
 * read-only file system, say): create the first missing level alone to learn the real cause.
 */
async function mkdirCause(dir: string, err: unknown): Promise<unknown> {
  if ((err as NodeJS.ErrnoException).code !== "ENOENT") return err;
  let missing = dir;
  while (dirname(missing) !== missing && !(await stat(dirname(missing)).then(() => true, () => false))) missing = dirname(missing);
  // EEXIST: another writer made that level between our look and our mkdir; ENOENT: another writer
  // removed its parent (an emptied folder) in that time. Retrying is right for both.
  return mkdir(missing, { mode: DIR_MODE }).then(
    () => err,
    (cause: unknown) => (["EEXIST", "ENOENT"].includes((cause as NodeJS.ErrnoException).code ?? "") ? err : cause),
  );
}
