import { resolve } from "node:path";
import { HoldfastError } from "../errors.js";
import type { StorageBackend } from "./backend.js";
import { DeferredBackend } from "./deferred.js";
import { LocalBackend } from "./local.js";
import { RetryBackend } from "./retry.js";
import { describeS3, parseS3Location, type S3Settings } from "./s3-settings.js";

export interface BackendOptions {
  /** Endpoint, region and server-side options for s3:// locations. */
  s3?: S3Settings;
}

/**
 * The one place backends are chosen from a location string and wrappers are stacked.
 * Local folders: a path or file:///path. S3: s3://bucket/prefix, wrapped in RetryBackend; the S3
 * backend (and the AWS SDK, about 140 ms of CPU at start-up) is imported on first use, so
 * commands on a local repository — wal-push above all — never load it.
 */
export function openBackend(location: string | undefined, options: BackendOptions = {}): StorageBackend {
  if (!location) {
    throw new HoldfastError("USAGE", "no repository given", { hint: "use --repo <path> or set HOLDFAST_REPO" });
  }
  if (location.startsWith("s3://")) {
    const s3 = options.s3 ?? {};
    const where = parseS3Location(location);
    return new RetryBackend(
      new DeferredBackend(describeS3(where), async () => {
        const [{ S3Backend }, { createS3Client }] = await Promise.all([import("./s3.js"), import("./s3-client.js")]);
        return new S3Backend(createS3Client(s3), where, s3);
      }),
    );
  }
  if (location.startsWith("file://")) return new LocalBackend(resolve(location.slice("file://".length)));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new HoldfastError("USAGE", `unsupported repository location "${location}"`);
  }
  return new LocalBackend(resolve(location));
}
