import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, readFile, readdir, readlink, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Every entry of a folder: type, mode, size, content hash or link target, mtime (seconds). */
export async function describeTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(rel: string): Promise<void> {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = join(root, r);
      const st = await lstat(abs);
      const mode = (st.mode & 0o7777).toString(8);
      const mtime = Math.floor(st.mtimeMs / 1000);
      if (st.isSymbolicLink()) out[r] = `link ${await readlink(abs)}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${mode} ${mtime} ${st.uid}:${st.gid}`;
        await walk(r);
      } else if (st.isFile()) out[r] = `file ${mode} ${st.size} ${createHash("sha256").update(await readFile(abs)).digest("hex")} ${mtime} ${st.uid}:${st.gid}`;
    }
  }
  await walk("");
  return out;
}

export const LONG_DIR = "a-folder-name-that-goes-on-".repeat(5);
export const LONG_FILE = `${"very-long-file-name-".repeat(9)}.conf`;

/**
 * A configuration folder as people have them: nested folders, an empty one, modes from 0400 to
 * 0755, a relative and an absolute symlink, a name past ustar's 100 bytes, a non-ASCII name,
 * and a few hundred KB of data.
 */
export async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, "conf.d"), { recursive: true });
  await mkdir(join(root, "empty", "nested-empty"), { recursive: true });
  await mkdir(join(root, LONG_DIR, "deeper"), { recursive: true });
  await writeFile(join(root, "app.yaml"), "listen: 8080\nworkers: 4\n");
  await writeFile(join(root, "conf.d", "10-db.conf"), "host=db\n");
  await writeFile(join(root, "secret.key"), "s3cr3t\n");
  await chmod(join(root, "secret.key"), 0o400);
  await writeFile(join(root, "run.sh"), "#!/bin/sh\necho hi\n");
  await chmod(join(root, "run.sh"), 0o755);
  await writeFile(join(root, "empty-file"), "");
  await writeFile(join(root, "données-été.txt"), "unicode\n");
  await writeFile(join(root, LONG_DIR, "deeper", LONG_FILE), "long\n");
  await writeFile(join(root, "blob.bin"), Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)));
  await symlink("app.yaml", join(root, "current.yaml"));
  await symlink("/etc/hostname", join(root, "hostname-link"));
  await symlink("conf.d", join(root, "conf-link"));
  await chmod(join(root, "conf.d"), 0o750);
  const old = new Date("2021-03-04T05:06:07Z");
  await utimes(join(root, "app.yaml"), old, old);
  await utimes(join(root, "conf.d"), old, old);
}
