import { resolve } from "node:path";
import { HoldfastError } from "../errors.js";
import type { StorageBackend } from "./backend.js";
import { LocalBackend } from "./local.js";

/**
 * The one place backends are chosen from a location string and wrappers are stacked.
 * Local folders: a path or file:///path.
 */
export function openBackend(location: string | undefined): StorageBackend {
  if (!location) {
    throw new HoldfastError("USAGE", "no repository given", { hint: "use --repo <path> or set HOLDFAST_REPO" });
  }
  if (location.startsWith("file://")) return new LocalBackend(resolve(location.slice("file://".length)));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new HoldfastError("USAGE", `unsupported repository location "${location}"`);
  }
  return new LocalBackend(resolve(location));
}
