import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";

const CHILD = resolve(import.meta.dirname, "s3rver-process.mjs");

/** s3rver accepts any signature for a known key id; S3RVER/S3RVER is its built-in account. */
export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };

export interface S3Server {
  endpoint: string;
  port: number;
  /** Where s3rver keeps buckets on disk (multipart parts live under <bucket>/.../uploads). */
  directory: string;
  /** Environment for the CLI: endpoint, region, credentials. */
  env: Record<string, string>;
  client(): S3Client;
  /** SIGKILL: a crash in the middle of whatever is in flight. */
  kill(): Promise<void>;
  /** Start again on the same port and directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * s3rver's ListObjectsV2 continuation tokens use DES, which OpenSSL 3 keeps in its legacy
 * provider: without --openssl-legacy-provider every listing past 1000 keys fails with HTTP 500.
 *
 * Start s3rver on loopback with the given buckets. Throws (so the suite FAILS, never skips) when
 * the server cannot start.
 */
export async function startS3(buckets: string[] = ["holdfast"]): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), "holdfast-s3rver-"));
  let child: ChildProcess;
  const launch = (port: number) =>
    new Promise<number>((resolvePort, reject) => {
      child = spawn(process.execPath, ["--openssl-legacy-provider", CHILD, directory, String(port), buckets.join(",")], { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      const timer = setTimeout(() => reject(new Error(`s3rver did not start in 15 s: ${err}`)), 15_000);
      child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
      child.stdout!.on("data", (d: Buffer) => {
        const m = /listening (\d+)/.exec(d.toString());
        if (m) {
          clearTimeout(timer);
          resolvePort(Number(m[1]));
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited with ${code}: ${err}`));
      });
    });
  const port = await launch(0);
  const endpoint = `http://127.0.0.1:${port}`;
  const exited = () => new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", () => r())));
  return {
    endpoint,
    port,
    directory,
    env: { ...S3_CREDENTIALS, HOLDFAST_S3_ENDPOINT: endpoint, AWS_REGION: "us-east-1", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    client: () =>
      new S3Client({
        endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: S3_CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: S3_CREDENTIALS.AWS_SECRET_ACCESS_KEY },
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
      }),
    async kill() {
      child.kill("SIGKILL");
      await exited();
    },
    async restart() {
      await launch(port);
    },
    async stop() {
      child.kill("SIGTERM");
      await Promise.race([exited(), new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await rm(directory, { recursive: true, force: true });
    },
  };
}
