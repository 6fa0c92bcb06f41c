import type { Settings } from "../config/load.js";
import type { CommandContext } from "../commands/context.js";
import { openBackend } from "../storage/open.js";
import { listDrills, type DrillListing } from "./record.js";

/** The drills recorded in the repository, newest first (damaged records listed apart). */
export async function drillHistory(settings: Settings, ctx: CommandContext): Promise<DrillListing & { repository: string }> {
  const backend = openBackend(settings.repo, { s3: settings.s3 });
  return { ...(await listDrills(backend, ctx.signal)), repository: backend.location };
}
