import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFile, mkdtemp, readFile, rm, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HoldfastError } from "../../src/errors.js";
import { finishVerified, openStoredFile, storeStream, type StoredFileRecord } from "../../src/pipeline/assemble.js";
import type { Compression } from "../../src/pipeline/compression.js";
import { LocalBackend } from "../../src/storage/local.js";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { databases, seedApp } from "../support/pg-data.js";
import { flipByte } from "../support/damage.js";

/**
 * A consumer that stops reading before the end (pg_restore once it has what it needs, a tar
 * reader at its end blocks) must not skip the hash checks of the bytes it did not read.
 */
describe("finishVerified: checks run over the bytes an early-stopping consumer skipped", () => {
  let dir: string;
  let backend: LocalBackend;
  const data = randomBytes(6 << 20);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hf-verified-"));
    backend = new LocalBackend(join(dir, "repo"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function store(name: string, algorithm: Compression = "none"): Promise<{ record: StoredFileRecord; path: string }> {
    const record = await storeStream(Readable.from([data]), backend, name, `backups/t/${name}`, { compression: { algorithm, level: algorithm === "none" ? 0 : 3 } });
    return { record, path: join(dir, "repo", "backups", "t", name) };
  }

  /** Reads `bytes` bytes, then destroys the stream as a consumer that is done would. */
  async function readThenStop(stream: Readable, bytes: number): Promise<Buffer> {
    const got: Buffer[] = [];
    let n = 0;
    for await (const chunk of stream) {
      got.push(chunk as Buffer);
      n += (chunk as Buffer).length;
      if (n >= bytes) break;
    }
    return Buffer.concat(got);
  }

  async function rejection(p: Promise<unknown>): Promise<HoldfastError> {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err, "expected the checks to fail").toBeInstanceOf(HoldfastError);
    return err as HoldfastError;
  }

  it("an intact file: a consumer that stops early still gets a passing check", async () => {
    const { record } = await store("intact");
    const stream = await openStoredFile(backend, record);
    const head = await readThenStop(stream, 100_000);
    expect(head.subarray(0, 1000).equals(data.subarray(0, 1000))).toBe(true);
    await expect(finishVerified(stream)).resolves.toBeUndefined();
    // And a consumer that reads everything ends only after the checks.
    const whole = await openStoredFile(backend, record);
    const chunks: Buffer[] = [];
    for await (const c of whole) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    await finishVerified(whole);
  });

  it("a byte flipped past what the consumer read: CORRUPTED", async () => {
    const { record, path } = await store("flipped");
    await flipByte(path, data.length - 1000);
    const stream = await openStoredFile(backend, record);
    await readThenStop(stream, 64 * 1024);
    const err = await rejection(finishVerified(stream));
    expect(err.code).toBe("CORRUPTED");
    expect(err.message).toContain("backups/t/flipped");
  });

  it("garbage appended after the recorded bytes: CORRUPTED, for plain and zstd files", async () => {
    for (const algorithm of ["none", "zstd"] as const) {
      const { record, path } = await store(`appended-${algorithm}`, algorithm);
      await appendFile(path, randomBytes(2 << 20));
      const stream = await openStoredFile(backend, record);
      await readThenStop(stream, 1000);
      const err = await rejection(finishVerified(stream));
      expect(err.code, algorithm).toBe("CORRUPTED");
      expect(err.message).toMatch(/larger than recorded/);
    }
  });

  it("a truncated file, read by a consumer that simply stops pulling: TRUNCATED", async () => {
    const { record, path } = await store("cut");
    await truncate(path, data.length - 4096);
    const stream = await openStoredFile(backend, record);
    stream.once("readable", () => stream.read(16)); // one small read, then nothing
    await new Promise((r) => setTimeout(r, 50));
    const err = await rejection(finishVerified(stream));
    expect(err.code).toBe("TRUNCATED");
  });

  it("a child process that exits early (EPIPE), like pg_restore: the rest is still checked", async () => {
    const { record, path } = await store("child");
    await flipByte(path, data.length - 10);
    const stream = await openStoredFile(backend, record);
    const child = spawn("head", ["-c", "1000"], { stdio: ["pipe", "pipe", "ignore"] });
    let out = 0;
    child.stdout.on("data", (d: Buffer) => (out += d.length));
    const piped = await pipeline(stream, child.stdin).then(() => "ended", (e: NodeJS.ErrnoException) => e.code);
    const exit = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once("close", r)));
    expect(exit).toBe(0);
    expect(out).toBe(1000);
    expect(piped).toBe("EPIPE"); // the consumer stopped; without finishVerified nobody would know
    const err = await rejection(finishVerified(stream));
    expect(err.code).toBe("CORRUPTED");
  });
});

describe("restore: pg_restore that succeeds on a valid prefix cannot hide a damaged backup", () => {
  let pg: PgCluster;
  let ws: Workspace;

  beforeAll(async () => {
    pg = await startCluster();
    await seedApp(pg, "early", 500);
    ws = await workspace({ encryption: "none" });
  });
  afterAll(async () => {
    await pg?.destroy();
    await ws?.cleanup();
  });

  it("garbage appended to the stored dump (nothing else changed): CORRUPTED, no new database left", async () => {
    for (const compression of ["none", "zstd"]) {
      const b = await runCli(["backup", pg.url("early"), "--compression", compression, "--json"], { env: ws.env });
      expect(b.code, b.stderr).toBe(0);
      const m = JSON.parse(b.stdout) as { id: string; files: { key: string }[] };
      const stored = join(ws.repo, m.files[0]!.key);
      const manifestBefore = await readFile(join(ws.repo, "backups", m.id, "manifest.json"), "utf8");
      await appendFile(stored, randomBytes(4 << 20));

      const target = `early_copy_${compression}`;
      const r = await runCli(["restore", m.id, "--to", pg.url(target)], { env: ws.env });
      expect(r.code, r.stderr).toBe(9);
      expect(errorLine(r)).toMatch(/larger than recorded/);
      expect(errorLine(r)).toContain(m.files[0]!.key);
      expect(await databases(pg)).not.toContain(target);
      expect(await readFile(join(ws.repo, "backups", m.id, "manifest.json"), "utf8")).toBe(manifestBefore);
    }
  });

  it("directory format, files checked in parallel (--jobs 3): one damaged data file is CORRUPTED, no new database left", async () => {
    const b = await runCli(["backup", pg.url("early"), "--format", "directory", "--jobs", "3", "--compression", "none", "--json"], { env: ws.env });
    expect(b.code, b.stderr).toBe(0);
    const m = JSON.parse(b.stdout) as { id: string; files: { name: string; key: string; storedBytes: number }[] };
    const data = m.files.filter((f) => f.name !== "dir-toc.dat" && f.storedBytes > 0);
    expect(data.length).toBeGreaterThan(2);
    const damaged = data.reduce((a, f) => (f.storedBytes > a.storedBytes ? f : a));
    await flipByte(join(ws.repo, damaged.key), Math.floor(damaged.storedBytes / 2));
    const r = await runCli(["restore", m.id, "--to", pg.url("early_dir"), "--jobs", "3"], { env: ws.env });
    expect(r.code, r.stderr).toBe(9);
    expect(errorLine(r)).toMatch(/fails its SHA-256 check/);
    expect(errorLine(r)).toContain(damaged.key);
    expect(await databases(pg)).not.toContain("early_dir");
  });
});
