import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pack, type Headers } from "tar-stream";
import { sealed } from "../../src/repository/json-object.js";
import { TreeTally, type IndexRecord } from "../../src/engines/files/tree.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";

/**
 * Hand-built tar streams (as an attacker with write access to the repository would store them,
 * hashes and manifest seal made to match) must be refused without writing one byte outside the
 * target. The repository is unencrypted and uncompressed so the stored object is the tar itself.
 */
let ws: Workspace;
let outside: string;
let template: Record<string, unknown> & { id: string; files: { name: string; key: string }[] };
beforeAll(async () => {
  ws = await workspace({ encryption: "none" });
  outside = join(ws.dir, "outside");
  await mkdir(outside);
  const src = join(ws.dir, "src");
  await mkdir(src);
  await writeFile(join(src, "x"), "x");
  const b = await runCli(["backup", `files:${src}`, "--compression", "none", "--json"], { env: ws.env });
  expect(b.code, b.stderr).toBe(0);
  template = JSON.parse(b.stdout);
});
afterAll(() => ws.cleanup());

interface Entry {
  header: Headers;
  body?: string;
}

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on("data", (c: Buffer) => chunks.push(c));
  const ended = new Promise((res) => p.on("end", res));
  for (const e of entries) p.entry({ mode: 0o644, mtime: new Date(0), ...e.header }, e.body ?? "");
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Store the tar and an index that agrees with it in place of the template backup's files. */
async function plant(entries: Entry[]): Promise<void> {
  const tar = await tarOf(entries);
  const tally = new TreeTally();
  const index = Buffer.from(
    entries
      .map((e) => {
        const t: IndexRecord["t"] = e.header.type === "directory" ? "dir" : e.header.type === "symlink" ? "symlink" : "file";
        const body = Buffer.from(e.body ?? "");
        const record: IndexRecord = { p: e.header.name.replace(/^\/+/, "").replace(/\/$/, ""), t, s: t === "file" ? body.length : 0, ...(t === "file" ? { h: sha(body) } : {}), m: 0o644, mt: 0, u: 0, g: 0, ...(e.header.linkname ? { l: e.header.linkname } : {}) };
        tally.add(record);
        return JSON.stringify(record);
      })
      .join("\n") + "\n",
  );
  const manifest = structuredClone(template) as typeof template;
  manifest.details = { ...(manifest.details as object), ...tally.summary() };
  for (const f of manifest.files as unknown as { name: string; key: string; contentBytes: number; contentSha256: string; storedBytes: number; storedSha256: string }[]) {
    const bytes = f.name === "files" ? tar : index;
    await writeFile(join(ws.repo, f.key), bytes);
    Object.assign(f, { contentBytes: bytes.length, contentSha256: sha(bytes), storedBytes: bytes.length, storedSha256: sha(bytes) });
  }
  await writeFile(join(ws.repo, "backups", manifest.id, "manifest.json"), JSON.stringify(sealed(manifest), null, 2));
}

async function refused(label: string, entries: Entry[]): Promise<void> {
  await plant(entries);
  const target = join(ws.dir, `target-${label}`);
  const r = await runCli(["restore", template.id, "--to", `files:${target}`], { env: ws.env });
  expect(r.code, `${label}: ${r.stderr}`).toBe(9);
  expect(r.stderr).toContain("nothing was restored");
  expect(await readdir(outside), label).toEqual([]);
  const left = (await readdir(ws.dir)).filter((n) => n.includes(`target-${label}`) || n.startsWith("escaped"));
  expect(left, label).toEqual([]);
}

describe("a malicious tar stored as a files backup", () => {
  it("the planted backup is otherwise valid: a harmless tar built the same way restores", async () => {
    await plant([{ header: { name: "ok/", type: "directory" } }, { header: { name: "ok/file.txt", type: "file" }, body: "fine" }]);
    const target = join(ws.dir, "planted-ok");
    const r = await runCli(["restore", template.id, "--to", `files:${target}`], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(target, "ok", "file.txt"), "utf8")).toBe("fine");
  });

  it("refuses `..` names", async () => {
    await refused("dotdot", [{ header: { name: "../escaped.txt", type: "file" }, body: "pwned" }]);
    await refused("dotdot-deep", [{ header: { name: "a/../../escaped.txt", type: "file" }, body: "pwned" }]);
  });

  it("refuses absolute names", async () => {
    await refused("absolute", [{ header: { name: `${outside}/abs.txt`, type: "file" }, body: "pwned" }]);
  });

  it("refuses a file written through a symlink that points outside", async () => {
    await refused("symlink-escape", [
      { header: { name: "sneaky", type: "symlink", linkname: outside } },
      { header: { name: "sneaky/pwned.txt", type: "file" }, body: "pwned" },
    ]);
  });

  it("refuses a symlink made through another symlink that points outside", async () => {
    await refused("symlink-chain", [
      { header: { name: "hop", type: "symlink", linkname: outside } },
      { header: { name: "hop/inner", type: "symlink", linkname: "/etc/passwd" } },
    ]);
  });

  it("refuses hard links and devices, which a files backup never stores", async () => {
    await refused("hardlink", [{ header: { name: "passwd", type: "link", linkname: "/etc/passwd" } }]);
    await refused("device", [{ header: { name: "null", type: "character-device" } }]);
  });
});
