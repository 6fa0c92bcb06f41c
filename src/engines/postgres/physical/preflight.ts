import { readdir, stat, statfs } from "node:fs/promises";
import { dirname, join } from "node:path";
import { HoldfastError } from "../../../errors.js";
import type { TarOwner } from "./tar-tap.js";
import { runTool, userName } from "../tools.js";

/**
 * Checks before a physical restore writes anything: the target, the room for it, and that the OS
 * user PostgreSQL's recovery will run as can reach everything its restore_command needs.
 *
 * Who runs recovery: PostgreSQL runs as the owner of its data directory. As root, Holdfast unpacks
 * the base backup keeping ownership the way GNU tar does — the user *named* in the tar header
 * (pg_basebackup writes "postgres") when that user exists here, else the numeric uid — and then
 * runs pg_ctl as that user. So the user is read from the first tar header before extraction and is
 * exactly the one recovery will use. Not root: recovery runs as ourselves.
 */
export interface RecoveryUser {
  uid: number;
  gid: number;
  /** Login name (runuser needs it); undefined when it is the user running Holdfast. */
  name?: string;
}

export async function recoveryUser(header: TarOwner | undefined): Promise<RecoveryUser> {
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  if (self.uid !== 0 || !header) return self;
  const byName = header.uname ? await idOf(header.uname) : undefined;
  if (byName) return byName.uid === 0 ? self : { ...byName, name: header.uname };
  if (header.uid === 0) return self;
  const name = await userName(header.uid);
  if (!name) throw new HoldfastError("RESTORE_FAILED", `the base backup's files belong to uid ${header.uid}, which has no user name here to run PostgreSQL as`, { hint: `create that user (useradd -u ${header.uid} postgres) and restore again` });
  return { uid: header.uid, gid: header.gid, name };
}

async function idOf(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const [u, g] = await Promise.all([exec(["id", "-u", name]), exec(["id", "-g", name])]);
  return u.code === 0 && g.code === 0 ? { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) } : undefined;
}

/** The target is absent or empty (or --replace moves it aside); nothing is created here. */
export async function checkTarget(dir: string, replace: boolean): Promise<void> {
  // pg_ctl (ours now, the user's later) runs the server through /bin/sh with -D "<dir>": inside
  // double quotes these characters would still be interpreted.
  if (/["`$\\\n]/.test(dir)) {
    throw new HoldfastError("USAGE", `the target directory ${JSON.stringify(dir)} holds a character the shell interprets even inside the double quotes pg_ctl puts around it (", \`, $, \\ or a line break)`, {
      hint: "restore into a directory whose path has none of them",
    });
  }
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    if (err.code === "ENOTDIR") throw new HoldfastError("TARGET_EXISTS", `${dir} exists and is not a directory`);
    throw new HoldfastError("TARGET_EXISTS", `cannot read the target directory ${dir}: ${err.code}`);
  });
  if (entries.length > 0 && !replace) {
    throw new HoldfastError("TARGET_EXISTS", `${dir} is not empty`, { hint: "restore into a new directory, or pass --replace to move the existing one aside as a safety copy" });
  }
}

/** The nearest folder of `path` that exists (where the target will be created). */
async function nearestExisting(path: string): Promise<string> {
  for (let p = path; ; p = dirname(p)) {
    if (await stat(p).then(() => true, () => false)) return p;
    if (dirname(p) === p) return p;
  }
}

/** Free space where the data directory will be: the base backup's size plus `marginBytes`. */
export async function checkSpace(dir: string, contentBytes: number, marginBytes: number): Promise<void> {
  const where = await nearestExisting(dir);
  const s = await statfs(where);
  const free = Number(s.bavail) * Number(s.bsize);
  const needed = contentBytes + marginBytes;
  if (free < needed) {
    throw new HoldfastError("NO_SPACE", `not enough free space for the restore at ${where}: ${mib(free)} free, the base backup needs ${mib(contentBytes)} plus ${mib(marginBytes)} for WAL and margin`, {
      hint: "free space there or restore to a larger volume (--to); nothing was written",
    });
  }
}

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

/** A path restore_command (or the server) needs, and what for. */
export interface NeededPath {
  path: string;
  /** How it is named in a message: "the passphrase file", "the repository", … */
  what: string;
  /** read: the file (or folder, listed) itself; tree: a folder and everything in it; enter: a folder to pass through; run: a program. */
  access: "read" | "tree" | "enter" | "run";
}

// Run as the recovery user: for each (mode, path) pair, print "index\npath" of the first failure.
const CHECK_SCRIPT = `i=0
while [ $# -gt 1 ]; do
  case "$1" in
    x) [ -x "$2" ] || { printf '%s\\n%s' "$i" "$2"; exit 3; } ;;
    r) { [ -r "$2" ] && { [ ! -d "$2" ] || [ -x "$2" ]; }; } || { printf '%s\\n%s' "$i" "$2"; exit 3; } ;;
    t) bad=$(find "$2" \\( ! -readable -o \\( -type d ! -executable \\) \\) -print -quit 2>/dev/null)
       [ -z "$bad" ] || { printf '%s\\n%s' "$i" "$bad"; exit 3; } ;;
  esac
  i=$((i+1)); shift 2
done`;

/**
 * Every folder on the way to each path must be enterable, and the path itself readable, by the
 * recovery user (checked as that user, so modes, groups and ACLs all count). The first failure is
 * one line naming the user and the file.
 */
export async function checkAccess(user: RecoveryUser, needed: NeededPath[], neededBy: string): Promise<void> {
  if (user.uid === 0) return;
  const checks: { mode: "x" | "r" | "t"; path: string; of: NeededPath }[] = [];
  const seen = new Set<string>();
  for (const n of needed) {
    const missing = await stat(n.path).then(() => false, () => true);
    if (missing && n.access !== "enter") throw new HoldfastError("RESTORE_FAILED", `${n.what} ${n.path} does not exist (needed by ${neededBy})`);
    const folders: string[] = [];
    for (let p = dirname(n.path); ; p = dirname(p)) {
      folders.unshift(p);
      if (dirname(p) === p) break;
    }
    for (const f of folders) {
      // A folder that does not exist yet is created by the restore (enterable, see prepareTarget).
      if (seen.has(`x${f}`) || !(await stat(f).then(() => true, () => false))) continue;
      seen.add(`x${f}`);
      checks.push({ mode: "x", path: f, of: n });
    }
    if (!missing) checks.push({ mode: n.access === "tree" ? "t" : n.access === "read" ? "r" : "x", path: n.path, of: n });
  }
  const argv = ["sh", "-c", CHECK_SCRIPT, "sh", ...checks.flatMap((c) => [c.mode, c.path])];
  const asUser = user.name ? ["runuser", "-u", user.name, "--", ...argv] : argv;
  const result = await exec(asUser);
  if (result.code === 0) return;
  const nl = result.stdout.indexOf("\n");
  const failed = nl > 0 ? checks[Number(result.stdout.slice(0, nl))] : undefined;
  const who = `the PostgreSQL OS user "${user.name ?? (await selfName())}"`;
  if (!failed) throw new HoldfastError("RESTORE_FAILED", `cannot check what ${who} can read: ${(result.stderr || result.stdout).trim().split("\n")[0] ?? `exit ${result.code}`}`);
  const bad = result.stdout.slice(nl + 1);
  const target = failed.of;
  const message =
    failed.mode === "x" && bad !== target.path
      ? `${who} cannot enter the folder ${bad} on the way to ${target.what} ${target.path} (needed by ${neededBy})`
      : bad !== target.path
        ? `${who} cannot read ${bad} in ${target.what} ${target.path} (needed by ${neededBy})`
        : `${who} cannot ${target.access === "enter" || target.access === "run" ? target.access : "read"} ${target.what} ${target.path} (needed by ${neededBy})`;
  throw new HoldfastError("RESTORE_FAILED", message, {
    hint: `give "${user.name ?? "this user"}" access (e.g. chmod o+x on the folders, chgrp/chmod g+r on the file), or move it somewhere that user can read; nothing was written`,
  });
}

async function selfName(): Promise<string> {
  return (await userName()) ?? String(process.getuid?.() ?? "?");
}

function exec(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runTool(argv[0]!, argv.slice(1), { env: process.env, cwd: "/" });
}

/** The package this CLI runs from: its dist/ and node_modules/ must be readable too. */
export function packageRoot(cliScript: string): string {
  return dirname(dirname(dirname(cliScript)));
}

/** node, the CLI script, the compiled program and (when it has its own) its dependencies. */
export async function programPaths(cliScript: string): Promise<NeededPath[]> {
  const root = packageRoot(cliScript);
  const paths: NeededPath[] = [
    { path: process.execPath, what: "node", access: "run" },
    { path: cliScript, what: "the Holdfast CLI", access: "read" },
    { path: dirname(dirname(cliScript)), what: "the Holdfast program folder", access: "tree" },
  ];
  const deps = join(root, "node_modules");
  if (await stat(deps).then((s) => s.isDirectory(), () => false)) paths.push({ path: deps, what: "the Holdfast dependencies", access: "tree" });
  return paths;
}
