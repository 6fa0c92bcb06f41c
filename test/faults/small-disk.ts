import { execFileSync } from "node:child_process";
import { mkdir, rm, stat, statfs, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface SmallDisk {
  path: string;
  /** Fill the file system until only `leaveBytes` are free (a filler file next to the repository). */
  fill(leaveBytes: number): Promise<void>;
  /** Remove the filler. */
  drain(): Promise<void>;
  unmount(): Promise<void>;
}

/** A real small file system: a tmpfs mounted as root (`mount -t tmpfs -o size=…`). */
export async function mountSmallDisk(path: string, sizeMiB: number): Promise<SmallDisk> {
  if (process.getuid?.() !== 0) throw new Error("the full-disk fault mounts a tmpfs: run as root");
  await mkdir(path, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeMiB}m,mode=0700`, "tmpfs", path]);
  const filler = join(path, "filler");
  return {
    path,
    async fill(leaveBytes) {
      // Fill to the brim (block rounding makes "free" approximate), then give back leaveBytes.
      const s = await statfs(path);
      await writeFile(filler, Buffer.alloc(s.bavail * s.bsize)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOSPC") throw err;
      });
      const { size } = await stat(filler);
      await truncate(filler, Math.max(0, size - leaveBytes));
    },
    drain: () => rm(filler, { force: true }),
    async unmount() {
      execFileSync("umount", ["-l", path]);
      await rm(path, { recursive: true, force: true });
    },
  };
}
