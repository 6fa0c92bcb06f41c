import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readlink } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { TreeTally, unreadable, walkTree, type IndexRecord, type TreeSummary } from "./tree.js";

/**
 * Walk a folder as a backup would and sum it up: counts and bytes (probe), and with hash the tree
 * digest a backup records (check), so a restored or live folder can be compared with a backup.
 */
export async function measureTree(root: string, options: { hash: boolean }): Promise<{ summary: TreeSummary; skipped: number }> {
  const tally = new TreeTally();
  let skipped = 0;
  for await (const e of walkTree(root)) {
    if (e.kind === "other") skipped += 1;
    if (e.kind === "other" || e.kind === "gone") continue;
    const st = e.stat!;
    const r: IndexRecord = { p: e.rel, t: e.kind, s: e.kind === "file" ? st.size : 0, m: st.mode & 0o7777, mt: 0, u: st.uid, g: st.gid };
    if (e.kind === "file" && options.hash) r.h = await sha256Of(e.abs);
    if (e.kind === "symlink") r.l = await readlink(e.abs).catch((err: unknown) => Promise.reject(unreadable(err, e.abs)));
    tally.add(r);
  }
  return { summary: tally.summary(), skipped };
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash("sha256");
  try {
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  } catch (err) {
    throw unreadable(err, path);
  }
  return hash.digest("hex");
}
