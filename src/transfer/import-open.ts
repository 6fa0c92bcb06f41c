import { stat } from "node:fs/promises";
import type { Settings } from "../config/load.js";
import { HoldfastError } from "../errors.js";
import { engineForTarget } from "../engines/registry.js";
import { openRepository } from "../commands/open-repository.js";
import { BACKUP_ID_PATTERN } from "../repository/backup-id.js";
import { openExportFile, openRepositoryExport, type ExportReader } from "./reader.js";
import { openPgTarget } from "./pg-target.js";
import { openSqliteTarget } from "./sqlite-target.js";
import type { ImportTarget } from "./target.js";

/** How each engine's import target is opened. */
const TARGETS: Record<string, ((text: string, options: { create?: boolean }) => Promise<ImportTarget>) | undefined> = {
  sqlite: openSqliteTarget,
  postgres: (text) => openPgTarget(text),
};

/** `--to`: a SQLite path (plain or sqlite:…) or a PostgreSQL URI. */
export async function openImportTarget(text: string, options: { create?: boolean } = {}): Promise<ImportTarget> {
  const { engine } = engineForTarget(text);
  const open = TARGETS[engine.name];
  if (!open) throw new HoldfastError("USAGE", `import writes into SQLite and PostgreSQL databases, not ${engine.name} targets`);
  return open(text, options);
}

/**
 * `<export>`: a portable file, or an export id in the repository. Keys come from the repository
 * when one is configured (an encrypted file, sealed columns).
 */
export async function openImportExport(text: string, settings: Settings): Promise<ExportReader> {
  const isFile = await stat(text).then((s) => s.isFile(), () => false);
  if (isFile) {
    const keys = settings.repo ? (await openRepository(settings, "if-possible")).keys : undefined;
    return openExportFile(text, { keys });
  }
  if (!BACKUP_ID_PATTERN.test(text)) throw new HoldfastError("USAGE", `${text} is neither an export file nor an export id`, { hint: "give the file export --out wrote, or an id `holdfast list` shows with kind export" });
  if (!settings.repo) throw new HoldfastError("USAGE", `export ${text} is named by id, but no repository is set`, { hint: "set --repo or HOLDFAST_REPO" });
  const { repo, keys } = await openRepository(settings, "if-possible");
  const manifest = await repo.readManifest(text);
  return openRepositoryExport(repo, manifest, { keys });
}
