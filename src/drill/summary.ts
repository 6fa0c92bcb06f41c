import type { StorageBackend } from "../storage/backend.js";
import { listDrills, type DrillRecord } from "./record.js";

/** What `status`, the daemon's metrics and alerts need of a source's drills. */
export interface DrillSummary {
  id: string;
  verdict: DrillRecord["verdict"];
  finishedAt: string;
  backupId?: string;
  rtoMs?: number;
  rpoMs?: number;
  targets: DrillRecord["targets"];
}

export interface SourceDrills {
  lastDrill: DrillSummary;
  lastPassedDrillAt?: string;
}

/**
 * The newest drill and the newest passing one of every source, from the records in the repository
 * (so they survive a daemon restart and include drills run from the CLI). Keyed by source URI, not
 * by name: a drill asked for by source and one asked for by name are the same database's.
 */
export async function drillSummaries(backend: StorageBackend, signal?: AbortSignal): Promise<Map<string, SourceDrills>> {
  const out = new Map<string, SourceDrills>();
  // Newest first: the first record of a source is its last drill.
  for (const r of (await listDrills(backend, signal)).drills) {
    const seen = out.get(r.source);
    if (!seen) out.set(r.source, { lastDrill: summarize(r), lastPassedDrillAt: r.verdict === "PASS" ? r.finishedAt : undefined });
    else if (!seen.lastPassedDrillAt && r.verdict === "PASS") seen.lastPassedDrillAt = r.finishedAt;
  }
  return out;
}

function summarize(r: DrillRecord): DrillSummary {
  return { id: r.id, verdict: r.verdict, finishedAt: r.finishedAt, backupId: r.backupId, rtoMs: r.rtoMs, rpoMs: r.rpo.ms, targets: r.targets };
}
