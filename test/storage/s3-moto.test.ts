import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBackend } from "../../src/storage/open.js";
import { runCli, startCli } from "../support/cli.js";
import { startMoto, type MotoServer } from "../support/moto.js";
import { createDatabase } from "../support/sqlite.js";
import { storageConformance } from "./conformance.js";

let moto: MotoServer;

beforeAll(async () => {
  moto = await startMoto(["conformance", "orphans"]);
  Object.assign(process.env, moto.env);
}, 60_000);
afterAll(async () => moto?.stop());

// The same suite, unchanged, against a second S3 implementation.
storageConformance("S3 (moto server on loopback)", async () => {
  const backend = openBackend(`s3://conformance/t-${randomBytes(6).toString("hex")}`, { s3: { endpoint: moto.endpoint } });
  return { backend, cleanup: async () => undefined };
});

async function openUploads(prefix: string): Promise<number> {
  const out = await moto.client().send(new ListMultipartUploadsCommand({ Bucket: "orphans", Prefix: prefix }));
  return out.Uploads?.length ?? 0;
}

describe("multipart uploads never linger (moto)", () => {
  it("aborts the multipart upload when a put fails midway", async () => {
    const b = openBackend("s3://orphans/failing", { s3: { endpoint: moto.endpoint } });
    let sent = 0;
    const { Readable } = await import("node:stream");
    const body = new Readable({
      read() {
        if (sent >= 20 << 20) return void this.destroy(new Error("source failed"));
        sent += 1 << 20;
        this.push(randomBytes(1 << 20));
      },
    });
    await expect(b.put("big", body)).rejects.toThrow();
    expect(await openUploads("failing/")).toBe(0);
    expect(await b.stat("big")).toBeUndefined();
  });

  it("a backup killed mid-upload leaves an orphan that `check` aborts; the re-run succeeds", async () => {
    const dir = await mkdtemp(join(tmpdir(), "holdfast-moto-"));
    try {
      await writeFile(join(dir, "pass.txt"), "correct horse battery staple\n");
      const env = { ...moto.env, HOLDFAST_REPO: "s3://orphans/killed", HOLDFAST_PASSPHRASE_FILE: join(dir, "pass.txt"), HOLDFAST_TMPDIR: dir };
      expect((await runCli(["repo", "init", "--scrypt-work-factor", "10"], { env })).code).toBe(0);
      const db = join(dir, "big.db");
      createDatabase(db, 250_000);
      const child = startCli(["backup", `sqlite:${db}`, "--compression", "none"], { env });
      const exited = new Promise<void>((r) => child.on("close", () => r()));
      const deadline = Date.now() + 60_000;
      while ((await openUploads("killed/")) === 0 && Date.now() < deadline) await sleep(20);
      child.kill("SIGKILL"); // no chance to abort: the upload is orphaned
      await exited;
      expect(await openUploads("killed/")).toBe(1);

      const check = await runCli(["check", "--stale-after", "0s", "--json"], { env });
      expect(check.code, check.stderr).toBe(0);
      expect((JSON.parse(check.stdout) as { staleUploadsRemoved: number }).staleUploadsRemoved).toBe(1);
      expect(await openUploads("killed/")).toBe(0);

      const again = await runCli(["backup", `sqlite:${db}`, "--compression", "none"], { env });
      expect(again.code, again.stderr).toBe(0);
      const list = JSON.parse((await runCli(["list", "--json"], { env })).stdout) as { backups: unknown[] };
      expect(list.backups.length).toBe(1);
      expect(await openUploads("killed/")).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
