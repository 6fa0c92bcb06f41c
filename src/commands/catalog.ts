import type { Settings } from "../config/load.js";
import type { Manifest } from "../repository/manifest.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";
import { resolveSourceRef } from "./source-ref.js";
import { judgeIncomplete, type IncompleteVerdict } from "../repository/incomplete.js";
import { manifestKey } from "../repository/layout.js";
import { openBackend } from "../storage/open.js";

export interface ListResult {
  repository: string;
  backups: Manifest[];
  /** Interrupted backups (data without a manifest): not restorable, removed by prune. */
  /** Backups without a manifest: being written, or interrupted (with when prune removes them). */
  incomplete: IncompleteVerdict[];
  /** Backups whose manifest is unreadable or invalid (never restorable). */
  damaged: { id: string; key: string; error: string }[];
  /** With copy_to: which offsite copies hold each backup, and which could not be read. */
  copies?: { location: string; ids: string[]; error?: string }[];
}

export async function listBackups(settings: Settings, _ctx: CommandContext): Promise<ListResult> {
  const { repo } = await openRepository(settings, "no");
  const catalog = await repo.catalog();
  const backups = catalog.backups;
  const incomplete = await judgeIncomplete(repo.backend, catalog.incomplete);
  const copies = settings.copyTo?.length ? await Promise.all(settings.copyTo.map((l) => copiesAt(l, backups, settings))) : undefined;
  return { repository: repo.backend.location, backups, incomplete, damaged: catalog.damaged, copies };
}

/** Which of these backups have a manifest at an offsite location (one stat each). */
async function copiesAt(location: string, backups: Manifest[], settings: Settings): Promise<{ location: string; ids: string[]; error?: string }> {
  try {
    const backend = openBackend(location, { s3: settings.s3 });
    const ids: string[] = [];
    for (const m of backups) if (await backend.stat(manifestKey(m.id))) ids.push(m.id);
    return { location: backend.location, ids };
  } catch (err) {
    return { location, ids: [], error: (err as Error).message };
  }
}

export async function showBackup(ref: string, settings: Settings, _ctx: CommandContext, source?: string): Promise<Manifest> {
  const { repo } = await openRepository(settings, "no");
  return repo.resolve(ref, { source: source ? resolveSourceRef(source, settings) : undefined, purpose: "show" });
}
