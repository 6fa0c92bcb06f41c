import { HoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { parseDuration } from "../config/duration.js";
import { loadEngine } from "../engines/registry.js";
import { kindOf, type Manifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import { resolveSourceRef } from "../commands/source-ref.js";
import { DRILL_ENGINES } from "./targets.js";

export interface DrillSubject {
  /** The holdfast.yaml name, or the source as given. */
  database: string;
  source: string;
  targets: { rtoMs?: number; rpoMs?: number };
}

/** The database a drill is about and its objectives (flags override holdfast.yaml's drill.targets). */
export function drillSubject(database: string, settings: Settings, flags: { rtoMs?: number; rpoMs?: number }): DrillSubject {
  const configured = settings.databases[database];
  const source = resolveSourceRef(database, settings);
  const t = configured?.drill?.targets;
  return {
    database: configured ? database : source,
    source,
    targets: { rtoMs: flags.rtoMs ?? (t?.rto ? parseDuration(t.rto) : undefined), rpoMs: flags.rpoMs ?? (t?.rpo ? parseDuration(t.rpo) : undefined) },
  };
}

/**
 * The backup a drill restores: the newest full backup of the source (of the kind --type asks for),
 * or for a point in time the newest taken before it (a base backup: the engine's own choice).
 */
export async function chooseDrillBackup(repo: Repository, source: string, options: { type?: string; targetTime?: Date; signal?: AbortSignal }): Promise<Manifest> {
  const engines = options.type === "physical" ? ["postgres-physical"] : options.type === "logical" ? ["sqlite", "postgres"] : DRILL_ENGINES;
  const { backups } = await repo.catalog({ signal: options.signal });
  const candidates = backups.filter((m) => m.source.uri === source && engines.includes(m.engine) && kindOf(m) === "full");
  if (candidates.length === 0) {
    throw new HoldfastError("BACKUP_NOT_FOUND", `no full backup of ${source}${options.type ? ` (${options.type})` : ""} in ${repo.backend.location} to drill`, { hint: "`holdfast list` shows the backups; a drill restores the newest" });
  }
  const newest = candidates[candidates.length - 1]!;
  const ofEngine = candidates.filter((m) => m.engine === newest.engine);
  if (!options.targetTime) return newest;
  const engine = await loadEngine(newest.engine);
  if (engine.pickForRestore && newest.engine === "postgres-physical") return engine.pickForRestore(ofEngine, { targetTime: options.targetTime.toISOString() });
  const before = ofEngine.filter((m) => Date.parse(m.startedAt) <= options.targetTime!.getTime());
  if (before.length === 0) throw new HoldfastError("BACKUP_NOT_FOUND", `no backup of ${source} was taken before ${options.targetTime.toISOString()}`);
  return before[before.length - 1]!;
}
