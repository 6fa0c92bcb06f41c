import { HoldfastError } from "../errors.js";

/* No import of the AWS SDK here: config and local repositories read these types without loading it. */

/** Where an S3 repository lives: s3://bucket/prefix. */
export interface S3Location {
  bucket: string;
  /** "" or a prefix ending in "/"; every repository key is stored under it. */
  prefix: string;
}

/** Connection and server-side options (holdfast.yaml `s3:`, env, flags). Never holds credentials. */
export interface S3Settings {
  endpoint?: string;
  region?: string;
  /** Path-style addressing (http://host/bucket/key); default on when a custom endpoint is given. */
  pathStyle?: boolean;
  storageClass?: string;
  sse?: "AES256" | "aws:kms";
  kmsKeyId?: string;
  tags?: Record<string, string>;
  /** Multipart part size in MiB (memory per upload ≈ partSize × (queueSize + 1)). */
  partSizeMiB?: number;
  queueSize?: number;
  /** Attempts per HTTP request inside the SDK (whole operations are retried by storage/retry.ts). */
  maxAttempts?: number;
}

export function parseS3Location(text: string): S3Location {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(text);
  if (!m || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(m[1]!)) {
    throw new HoldfastError("USAGE", `not an S3 location: "${text}"`, { hint: "use s3://bucket or s3://bucket/prefix" });
  }
  const prefix = (m[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (prefix.split("/").some((s) => s === "." || s === "..")) throw new HoldfastError("USAGE", `invalid S3 prefix in "${text}"`);
  return { bucket: m[1]!, prefix: prefix ? `${prefix}/` : "" };
}

/** Shown in messages: s3://bucket/prefix (never the endpoint's userinfo, never credentials). */
export function describeS3(location: S3Location): string {
  return `s3://${location.bucket}/${location.prefix}`.replace(/\/$/, "");
}

/** The endpoint without any userinfo, for connection errors. */
export function endpointForMessages(endpoint: string | undefined): string {
  if (!endpoint) return "the AWS S3 endpoint";
  try {
    const url = new URL(endpoint);
    return url.origin;
  } catch {
    return "the configured S3 endpoint";
  }
}
