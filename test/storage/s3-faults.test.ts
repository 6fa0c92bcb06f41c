import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { HoldfastError } from "../../src/errors.js";
import { openBackend } from "../../src/storage/open.js";
import { replayable } from "../../src/storage/retry.js";
import { readJson, writeJson } from "../../src/repository/json-object.js";
import { z } from "zod";
import { errorLine, runCli } from "../support/cli.js";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.js";
import { startS3, type S3Server } from "../support/s3.js";

let server: S3Server;
let proxy: FaultProxy;

beforeAll(async () => {
  server = await startS3(["faults", "locked"]);
  proxy = await startFaultProxy(server.endpoint);
  Object.assign(process.env, server.env);
});
afterAll(async () => {
  await proxy?.close();
  await server?.stop();
});
beforeEach(() => {
  proxy.setRule(undefined);
  proxy.requests.length = 0;
});

/** The SDK's own per-request retries off (maxAttempts 1), so what is seen is RetryBackend's work. */
function backend() {
  return openBackend(`s3://faults/r-${randomBytes(4).toString("hex")}`, { s3: { endpoint: proxy.endpoint, maxAttempts: 1 } });
}

async function text(stream: Readable): Promise<string> {
  let out = "";
  for await (const c of stream) out += (c as Buffer).toString();
  return out;
}

describe("transient S3 faults (real HTTP fault injection in front of s3rver)", () => {
  it("retries throttling and 5xx on reads, stats, listings and deletes", async () => {
    const b = backend();
    await b.put("k", Readable.from([Buffer.from("value")]));
    let failures = 0;
    proxy.setRule((req) => (req.method !== "PUT" && failures++ % 2 === 0 ? { status: failures % 4 === 1 ? 503 : 500, code: failures % 4 === 1 ? "SlowDown" : "InternalError" } : undefined));
    expect(await text(await b.get("k"))).toBe("value");
    expect((await b.stat("k"))?.size).toBe(5);
    const listed: string[] = [];
    for await (const o of b.list("")) listed.push(o.key);
    expect(listed).toEqual(["k"]);
    await b.delete("k");
    expect(failures).toBeGreaterThanOrEqual(4);
  });

  it("gives up after its attempts with one clear error", async () => {
    const b = backend();
    proxy.setRule(() => ({ status: 503, code: "SlowDown" }));
    const err = await b.get("k").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HoldfastError);
    expect((err as HoldfastError).message).toMatch(/^S3 request failed \(SlowDown, HTTP 503\) for s3:\/\/faults\/r-[0-9a-f]+\/k: injected SlowDown$/);
    expect(proxy.requests.filter((r) => r.startsWith("GET")).length).toBe(4);
    const head = await b.stat("k").catch((e: unknown) => e);
    expect((head as HoldfastError).message).toMatch(/^S3 request failed \(HTTP 503\)/);
  });

  it("reads a small JSON object again when its response breaks off mid-body (connection reset)", async () => {
    const b = backend();
    await writeJson(b, "record.json", { id: "x".repeat(200), n: 7 });
    let cuts = 0;
    proxy.setRule((req) => (req.method === "GET" && req.url?.includes("record.json") && ++cuts <= 2 ? { cut: true, afterBytes: 20 } : undefined));
    const read = await readJson(b, "record.json", z.object({ id: z.string(), n: z.number() }));
    expect(read).toEqual({ status: "ok", value: { id: "x".repeat(200), n: 7 } });
    expect(cuts).toBe(3); // two broken responses, then the whole object
  });

  it("never re-sends a put whose body stream was consumed, but re-creates a replayable one", async () => {
    const b = backend();
    let puts = 0;
    proxy.setRule((req) => (req.method === "PUT" && ++puts === 1 ? { status: 500, code: "InternalError" } : undefined));
    await expect(b.put("once", Readable.from([Buffer.from("stream body")]))).rejects.toThrow(/InternalError/);
    expect(puts).toBe(1);
    expect(await b.stat("once")).toBeUndefined();

    puts = 0;
    const stored = await b.put("twice", replayable(() => Readable.from([Buffer.from("replayable body")])));
    expect(stored.size).toBe(15);
    expect(puts).toBe(2);
    expect(await text(await b.get("twice"))).toBe("replayable body");
  });

  it("reports a bucket without permission as access denied (CLI, one line, exit 20)", async () => {
    proxy.setRule((req) => (req.url?.startsWith("/locked") ? { status: 403, code: "AccessDenied" } : undefined));
    const dir = await mkdtemp(join(tmpdir(), "holdfast-faults-"));
    try {
      await writeFile(join(dir, "pass.txt"), "correct horse battery staple\n");
      const env = { ...server.env, HOLDFAST_S3_ENDPOINT: proxy.endpoint, HOLDFAST_PASSPHRASE_FILE: join(dir, "pass.txt"), HOLDFAST_TMPDIR: dir };
      const init = await runCli(["repo", "init", "s3://locked/app", "--scrypt-work-factor", "10"], { env });
      expect(init.code).toBe(20);
      expect(errorLine(init)).toMatch(/^S3 access denied: s3:\/\/locked\/app/);
      const list = await runCli(["list", "--repo", "s3://locked/app"], { env });
      expect(list.code).toBe(20);
      expect(errorLine(list)).toMatch(/^S3 access denied: s3:\/\/locked\/app/);
      expect(list.stderr).not.toMatch(/^\s+at /m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
