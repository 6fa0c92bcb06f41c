import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { S3Client, CreateBucketCommand } from "@aws-sdk/client-s3";

/**
 * moto's standalone server (python3 -m moto.server, shipped in the machine image): a second real
 * S3-protocol server on loopback. Used where s3rver falls short: it implements
 * ListMultipartUploads and AbortMultipartUpload, so orphaned multipart uploads can be observed.
 * Throws (the suite FAILS, never skips) when it cannot start.
 */
export interface MotoServer {
  endpoint: string;
  env: Record<string, string>;
  client(): S3Client;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startMoto(buckets: string[]): Promise<MotoServer> {
  const port = await freePort();
  const child: ChildProcess = spawn("python3", ["-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`moto server did not start in 20 s: ${output}`)), 20_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (/Running on/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("error", (err) => reject(new Error(`cannot start python3 -m moto.server: ${err.message}`)));
    child.once("exit", (code) => reject(new Error(`moto server exited with ${code}: ${output}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId: "testing", secretAccessKey: "testing" };
  const client = () => new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials, requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" });
  for (const Bucket of buckets) await client().send(new CreateBucketCommand({ Bucket }));
  return {
    endpoint,
    env: { AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", AWS_REGION: "us-east-1", HOLDFAST_S3_ENDPOINT: endpoint, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    client,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 200));
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
