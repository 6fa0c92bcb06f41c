import { S3Client } from "@aws-sdk/client-s3";
import { registerSecret } from "../errors.js";
import type { S3Settings } from "./s3-settings.js";

/**
 * A real S3 client. Credentials come from the standard AWS chain (env, profile, SSO, instance
 * role): Holdfast never reads them into its own settings; the secret values it can see are
 * registered so any message that somehow quotes them is redacted.
 */
export function createS3Client(settings: S3Settings): S3Client {
  registerSecret(process.env.AWS_SECRET_ACCESS_KEY);
  registerSecret(process.env.AWS_SESSION_TOKEN);
  // The SDK prints a multi-line Node-version notice on stderr; it would bury our one-line errors.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region ?? "us-east-1",
    forcePathStyle: settings.pathStyle ?? settings.endpoint !== undefined,
    maxAttempts: settings.maxAttempts ?? 3,
    // Our own SHA-256 covers integrity; the SDK's default CRC trailers (aws-chunked) are not
    // understood by many S3-compatible servers (older MinIO, Ceph, s3rver).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}
