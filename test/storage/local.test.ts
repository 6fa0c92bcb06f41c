import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openBackend } from "../../src/storage/open.js";
import { storageConformance } from "./conformance.js";

storageConformance("local folder", async () => {
  const dir = await mkdtemp(join(tmpdir(), "holdfast-local-"));
  return { backend: openBackend(join(dir, "repo")), cleanup: () => rm(dir, { recursive: true, force: true }) };
});
