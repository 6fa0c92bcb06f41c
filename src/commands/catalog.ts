import type { Settings } from "../config/load.js";
import type { Manifest } from "../repository/manifest.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";

export interface ListResult {
  repository: string;
  backups: Manifest[];
  /** Interrupted backups (data without a manifest): not restorable, removed by prune. */
  incomplete: string[];
}

export async function listBackups(settings: Settings, _ctx: CommandContext): Promise<ListResult> {
  const { repo } = await openRepository(settings, "no");
  const { backups, incomplete } = await repo.catalog();
  return { repository: repo.backend.location, backups, incomplete };
}

export async function showBackup(ref: string, settings: Settings, _ctx: CommandContext): Promise<Manifest> {
  const { repo } = await openRepository(settings, "no");
  return repo.resolve(ref);
}
