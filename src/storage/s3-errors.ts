import { HoldfastError } from "../errors.js";

/** The parts of an AWS SDK error we read (structural, so no SDK class is needed). */
interface SdkErrorLike {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const AUTH_NAMES = new Set(["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidToken", "CredentialsProviderError", "AllAccessDisabled"]);
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED", "UND_ERR_SOCKET"]);

export function httpStatusOf(err: unknown): number | undefined {
  return (err as SdkErrorLike)?.$metadata?.httpStatusCode;
}

/** A missing key (GetObject NoSuchKey, HeadObject's bare 404). A missing bucket is not this. */
export function isMissingKey(err: unknown): boolean {
  const e = err as SdkErrorLike;
  return e?.name === "NoSuchKey" || (e?.name === "NotFound" && httpStatusOf(err) === 404) || (httpStatusOf(err) === 404 && e?.name !== "NoSuchBucket");
}

/** Network-level failure codes, looked up through the error and its causes. */
export function networkCodeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as SdkErrorLike).code;
    if (code && NETWORK_CODES.has(code)) return code;
    if (/socket hang up|ECONNRESET|ECONNREFUSED/.test((e as SdkErrorLike).message ?? "")) return "ECONNRESET";
  }
  return undefined;
}

/**
 * One clear HoldfastError for an SDK failure. `where` is s3://bucket/prefix/key (no secrets);
 * `endpoint` is the credential-free origin. The SDK's own message is kept only when it is short
 * and says something (never the request or the signature).
 */
export function fromS3Error(err: unknown, where: string, bucket: string, endpoint: string): HoldfastError {
  if (err instanceof HoldfastError) return err;
  const e = err as SdkErrorLike;
  const status = httpStatusOf(err);
  const name = e?.name ?? "Error";
  if (name === "AbortError" || e?.code === "ABORT_ERR") {
    return new HoldfastError("INTERRUPTED", `interrupted: ${where}`, { cause: err });
  }
  if (name === "NoSuchBucket") {
    return new HoldfastError("STORAGE_FAILED", `bucket "${bucket}" does not exist at ${endpoint}`, {
      hint: "create the bucket first (Holdfast never creates buckets) or check the bucket name and --s3-endpoint",
      cause: err,
    });
  }
  if (AUTH_NAMES.has(name) || status === 401 || status === 403) {
    const reason = name === "AccessDenied" || status === 403 && !AUTH_NAMES.has(name) ? "access denied" : `credentials rejected (${name})`;
    return new HoldfastError("AUTH_FAILED", `S3 ${reason}: ${where}`, {
      hint: "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE, and the bucket policy",
      cause: err,
    });
  }
  if (isMissingKey(err)) return new HoldfastError("NOT_FOUND", `object not found: ${where}`, { cause: err });
  const network = networkCodeOf(err);
  if (network) {
    return new HoldfastError("CONNECTION_FAILED", `cannot reach ${endpoint} (${network}) while accessing ${where}`, {
      hint: "check the endpoint (--s3-endpoint / HOLDFAST_S3_ENDPOINT) and the network; nothing was committed",
      cause: err,
    });
  }
  if (name === "TimeoutError" || name === "RequestTimeout") {
    return new HoldfastError("CONNECTION_FAILED", `S3 request timed out: ${where}`, { cause: err });
  }
  const named = name !== "Unknown" && name !== "Error";
  const detail = status ? (named ? `${name}, HTTP ${status}` : `HTTP ${status}`) : name;
  const message = (e?.message ?? "").split("\n")[0]!.slice(0, 160);
  return new HoldfastError("STORAGE_FAILED", `S3 request failed (${detail}) for ${where}${message && message !== name ? `: ${message}` : ""}`, { cause: err });
}
