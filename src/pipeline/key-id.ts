import { createHash } from "node:crypto";

/**
 * A short, stable name for the key a file is encrypted to: the first 12 hex digits of the SHA-256
 * of its age recipient(s), sorted, one a line. Public (it is derived from public keys), recorded
 * with every stored file so `show` can say which repository key opens a backup.
 */
export function keyIdOf(recipients: readonly string[]): string {
  return createHash("sha256").update([...recipients].sort().join("\n")).digest("hex").slice(0, 12);
}
