import { open } from "node:fs/promises";
import { HoldfastError } from "../../errors.js";

const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");

/** Refuse a missing, unreadable, empty or non-SQLite file with one clear line. */
export async function assertSqliteFile(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new HoldfastError("SOURCE_MISSING", `SQLite database not found: ${path}`, { hint: "check the path after sqlite:" });
    }
    if (code === "EISDIR") throw new HoldfastError("SOURCE_INVALID", `${path} is a directory, not a SQLite database`);
    throw new HoldfastError("SOURCE_MISSING", `cannot open ${path}: ${code ?? (err as Error).message}`);
  }
  try {
    const header = Buffer.alloc(16);
    const { bytesRead } = await handle.read(header, 0, 16, 0);
    if (bytesRead < 16 || !header.equals(SQLITE_MAGIC)) {
      throw new HoldfastError("SOURCE_INVALID", `${path} is not a SQLite database (bad header)`);
    }
  } finally {
    await handle.close();
  }
}
