import { createHash } from "node:crypto";
import { HoldfastError } from "../errors.js";

/**
 * The checksum of a migration's text. Version 1: CRLF and lone CR become LF, trailing whitespace
 * is removed from every line and trailing blank lines are dropped, then SHA-256 (hex). The
 * algorithm's version is stored beside each checksum, so a later Holdfast that normalises
 * differently still compares old rows with the algorithm that wrote them.
 */
export const CHECKSUM_ALGORITHM = 1;

export function normaliseText(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .map((line) => line.replace(/[ \t\f\v]+$/, ""))
    .join("\n")
    .replace(/\n+$/, "");
}

export function checksumOf(text: string, algorithm: number = CHECKSUM_ALGORITHM): string {
  if (algorithm !== 1) {
    throw new HoldfastError("TOOL_VERSION", `the history table holds checksums of algorithm ${algorithm}, which this Holdfast does not know`, { hint: "upgrade Holdfast to the version that applied these migrations" });
  }
  return createHash("sha256").update(normaliseText(text)).digest("hex");
}
