import type { Settings } from "../../config/load.js";
import { openRepository } from "../../commands/open-repository.js";
import { drillHtmlKey, drillJsonKey, drillRecordSchema, DRILL_ID, type DrillRecord } from "../../drill/record.js";
import { HoldfastError } from "../../errors.js";
import { BACKUP_ID_PATTERN } from "../../repository/backup-id.js";
import { readJson } from "../../repository/json-object.js";
import { manifestKey } from "../../repository/layout.js";
import type { Manifest } from "../../repository/manifest.js";
import { readAllText } from "../../repository/read-text.js";
import { openBackend } from "../../storage/open.js";
import type { OffsiteCopy } from "./overview.js";

/** A browser polls every few seconds: the catalog is listed at most this often. */
const CATALOG_EVERY_MS = 2_000;
/** A copy repository is asked again about a backup it lacked after this long. */
const OFFSITE_EVERY_MS = 30_000;

/**
 * What the dashboard reads from the repository, read-only: the catalog (throttled), one manifest,
 * one drill record and its page, and whether a copy repository holds a backup. Ids are checked
 * against their patterns before they become storage keys.
 */
export class DashboardReader {
  private catalogAt = 0;
  private catalogRead?: Promise<Manifest[]>;
  private readonly offsite = new Map<string, { at: number; copy: OffsiteCopy }>();

  constructor(private readonly settings: () => Settings) {}

  catalog(): Promise<Manifest[]> {
    if (!this.catalogRead || Date.now() - this.catalogAt > CATALOG_EVERY_MS) {
      this.catalogAt = Date.now();
      const read = openRepository(this.settings(), "no").then(async ({ repo }) => (await repo.catalog()).backups);
      // A failed read is not cached: the next poll tries again.
      read.catch(() => (this.catalogRead = undefined));
      this.catalogRead = read;
    }
    return this.catalogRead;
  }

  /** undefined for an id that is not a backup id or not in the repository. */
  async manifest(id: string): Promise<Manifest | undefined> {
    if (!BACKUP_ID_PATTERN.test(id)) return undefined;
    const { repo } = await openRepository(this.settings(), "no");
    return repo.readManifest(id).catch((err: unknown) => {
      if (err instanceof HoldfastError && (err.code === "BACKUP_NOT_FOUND" || err.code === "MANIFEST_MISSING")) return undefined;
      throw err;
    });
  }

  async drill(id: string): Promise<DrillRecord | undefined> {
    if (!DRILL_ID.test(id)) return undefined;
    const read = await readJson(this.backend(), drillJsonKey(id), drillRecordSchema);
    if (read.status === "ok") return read.value;
    if (read.status === "missing") return undefined;
    throw new HoldfastError("CORRUPTED", `drill record ${id} is ${read.reason}`);
  }

  /** The drill's stored HTML report (undefined when absent). */
  async drillPage(id: string): Promise<string | undefined> {
    if (!DRILL_ID.test(id)) return undefined;
    const backend = this.backend();
    if (!(await backend.stat(drillHtmlKey(id)))) return undefined;
    return readAllText(await backend.get(drillHtmlKey(id)), `${backend.location}/${drillHtmlKey(id)}`);
  }

  /** For each copy_to repository: does it hold this backup? Positive answers are kept for good. */
  async copies(backupId: string | undefined): Promise<OffsiteCopy[]> {
    const settings = this.settings();
    return Promise.all(
      (settings.copyTo ?? []).map(async (to) => {
        const backend = openBackend(to, { s3: settings.s3 });
        if (!backupId) return { location: backend.location };
        const key = `${backend.location}\0${backupId}`;
        const seen = this.offsite.get(key);
        if (seen && (seen.copy.hasNewest || Date.now() - seen.at < OFFSITE_EVERY_MS)) return seen.copy;
        const copy: OffsiteCopy = await backend
          .stat(manifestKey(backupId))
          .then((o) => ({ location: backend.location, hasNewest: o !== undefined }))
          .catch((err: unknown) => ({ location: backend.location, error: (err as Error).message }));
        if (this.offsite.size > 10_000) this.offsite.clear();
        this.offsite.set(key, { at: Date.now(), copy });
        return copy;
      }),
    );
  }

  /** The repository as every other output names it (no credentials). */
  get location(): string {
    return this.backend().location;
  }

  private backend() {
    const settings = this.settings();
    return openBackend(settings.repo, { s3: settings.s3 });
  }
}
