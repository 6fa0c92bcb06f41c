import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { openBackend } from "../../src/storage/open.js";
import { startS3, type S3Server } from "../support/s3.js";
import { storageConformance } from "./conformance.js";

let server: S3Server;

beforeAll(async () => {
  server = await startS3(["conformance"]);
  // The SDK's credential chain reads these, exactly as it would in production.
  Object.assign(process.env, server.env);
});
afterAll(async () => server?.stop());

// Each test gets its own prefix in the bucket: an empty repository, like a fresh folder.
storageConformance("S3 (s3rver on loopback)", async () => {
  const backend = openBackend(`s3://conformance/t-${randomBytes(6).toString("hex")}`, { s3: { endpoint: server.endpoint } });
  return { backend, cleanup: async () => undefined };
});
