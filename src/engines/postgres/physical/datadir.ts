import { access, appendFile, chmod, chown, mkdir, readFile, readdir, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HoldfastError } from "../../../errors.js";
import { startTool, terminate } from "../tools.js";
import { quoteConf } from "./shell-command.js";

/**
 * The data directory side of a physical restore: make room (with a safety copy), unpack the base
 * backup's tar, and write the files PostgreSQL needs to start recovery.
 */
export async function prepareTarget(dir: string, replace: boolean): Promise<{ safetyCopy?: string }> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw new HoldfastError("TARGET_EXISTS", `cannot read the target directory ${dir}: ${err.code}`);
  });
  let safetyCopy: string | undefined;
  if (entries && entries.length > 0) {
    if (!replace) {
      throw new HoldfastError("TARGET_EXISTS", `${dir} is not empty`, { hint: "restore into a new directory, or pass --replace to move the existing one aside as a safety copy" });
    }
    if (entries.includes("postmaster.pid")) {
      throw new HoldfastError("TARGET_EXISTS", `${dir} holds a running (or crashed) PostgreSQL server (postmaster.pid present)`, { hint: "stop the server first: pg_ctl -D <dir> stop" });
    }
    safetyCopy = `${dir}.holdfast-safety-${new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}`;
    await rename(dir, safetyCopy);
  }
  if (entries && entries.length === 0) await chmod(dir, 0o700);
  else {
    // Folders created on the way stay enterable (not listable): the server's OS user must reach its data directory.
    await mkdir(dirname(dir), { recursive: true, mode: 0o711 });
    await mkdir(dir, { mode: 0o700 });
  }
  return { safetyCopy };
}

/** Unpack a pg_basebackup tar with the system tar (standard ustar; ownership kept when root). */
export async function extractTar(stream: Readable, dir: string, signal?: AbortSignal): Promise<void> {
  const tar = startTool("tar", ["-x", "-f", "-", "-C", dir], { env: process.env, stdin: "pipe" });
  tar.child.stdout!.resume();
  try {
    await pipeline(stream, tar.child.stdin!, { signal });
  } catch (err) {
    terminate(tar.child);
    await tar.done;
    throw err;
  }
  const { code, stderr } = await tar.done;
  if (code !== 0) throw new HoldfastError("RESTORE_FAILED", `tar could not unpack the base backup into ${dir}: ${stderr.trim().split("\n")[0] ?? `exit ${code}`}`);
  await access(join(dir, "PG_VERSION")).catch(() => {
    throw new HoldfastError("CORRUPTED", `the base backup unpacked into ${dir} has no PG_VERSION: not a PostgreSQL data directory`);
  });
}

/** The OS user the restored files belong to (PostgreSQL must run as the data directory's owner). */
export async function adoptOwner(dir: string): Promise<{ uid: number; gid: number }> {
  const s = await stat(join(dir, "PG_VERSION"));
  await chown(dir, s.uid, s.gid);
  await chmod(dir, 0o700);
  return { uid: s.uid, gid: s.gid };
}

export const RECOVERY_BLOCK_START = "# --- holdfast restore: recovery settings (begin) ---";
export const RECOVERY_BLOCK_END = "# --- holdfast restore: recovery settings (end) ---";

export const ARCHIVING_OFF_START = "# --- holdfast restore: archiving off (begin) ---";
export const ARCHIVING_OFF_END = "# --- holdfast restore: archiving off (end) ---";

/**
 * Debian keeps postgresql.conf and pg_hba.conf in /etc/postgresql, so a base backup of such a
 * cluster has neither; PostgreSQL cannot start without them. Create minimal ones (defaults;
 * local peer/host scram) and say so. Returns the names of files created.
 */
export async function ensureConfigFiles(dir: string, owner: { uid: number; gid: number }): Promise<string[]> {
  const created: string[] = [];
  const files: [string, string][] = [
    ["postgresql.conf", "# created by holdfast restore: the backed-up cluster kept its postgresql.conf outside the data directory\n# (Debian: /etc/postgresql/<version>/<cluster>/). Copy your settings here or start with -c config_file=…\n"],
    ["pg_hba.conf", "# created by holdfast restore (the original was outside the data directory)\nlocal all all peer\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n"],
  ];
  for (const [name, text] of files) {
    const path = join(dir, name);
    const exists = await access(path).then(() => true, () => false);
    if (exists) continue;
    await writeFile(path, text, { mode: 0o600 });
    await chown(path, owner.uid, owner.gid);
    created.push(name);
  }
  return created;
}

/** recovery.signal plus our block of settings at the end of postgresql.auto.conf (last one wins). */
export async function writeRecoverySettings(dir: string, settings: Record<string, string>, owner: { uid: number; gid: number }): Promise<void> {
  const auto = join(dir, "postgresql.auto.conf");
  const lines = [RECOVERY_BLOCK_START, ...Object.entries(settings).map(([k, v]) => `${k} = ${quoteConf(v)}`), RECOVERY_BLOCK_END];
  await appendFile(auto, `\n${lines.join("\n")}\n`, { mode: 0o600 });
  await chown(auto, owner.uid, owner.gid);
  const signal = join(dir, "recovery.signal");
  await writeFile(signal, "", { mode: 0o600 });
  await chown(signal, owner.uid, owner.gid);
}

/**
 * A restored copy must not archive into the repository production archives into: its new timeline
 * would become what "restore latest" follows. archive_mode = off at the end of postgresql.auto.conf
 * (last one wins; it also applies to every later `pg_ctl start`), with a note on how to undo it.
 */
export async function disableArchiving(dir: string, owner: { uid: number; gid: number }, restoredFrom: string): Promise<void> {
  const auto = join(dir, "postgresql.auto.conf");
  const lines = [
    ARCHIVING_OFF_START,
    `# Restored by holdfast from ${restoredFrom.replace(/[\r\n]/g, " ")}. Archiving is off so that this copy never writes`,
    "# its WAL (a new timeline) into the production WAL archive. For a real failover, delete the",
    "# archive_mode line below (or restore with --archive) and restart the server.",
    `archive_mode = ${quoteConf("off")}`,
    ARCHIVING_OFF_END,
  ];
  await appendFile(auto, `\n${lines.join("\n")}\n`, { mode: 0o600 });
  await chown(auto, owner.uid, owner.gid);
}

/**
 * After a successful recovery the target settings must not apply again (a later standby.signal
 * would re-run them): comment our block out, keeping it as a record of what was done.
 */
export async function retireRecoverySettings(dir: string): Promise<void> {
  const auto = join(dir, "postgresql.auto.conf");
  const text = await readFile(auto, "utf8");
  let inside = false;
  const out = text.split("\n").map((line) => {
    if (line === RECOVERY_BLOCK_START) inside = true;
    else if (line === RECOVERY_BLOCK_END) inside = false;
    else if (inside && !line.startsWith("#")) return `# (used by the restore) ${line}`;
    return line;
  });
  await writeFile(auto, out.join("\n"));
}
