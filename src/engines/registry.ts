import { HoldfastError } from "../errors.js";
import type { Engine } from "./engine.js";
import type { EngineKind } from "./kind.js";
import { sqliteKind } from "./sqlite/kind.js";
import { postgresKind } from "./postgres/logical-kind.js";
import { physicalKind } from "./postgres/physical/kind.js";
import { filesKind } from "./files/kind.js";
import { isKeywordValue } from "./postgres/pg-ref.js";

/**
 * Every engine Holdfast has, as kinds: reading a source string, naming and describing it need no
 * driver; `kind.load()` (or loadEngine) imports the engine when a command backs up, restores or checks.
 */
const KINDS: EngineKind[] = [sqliteKind, postgresKind, physicalKind, filesKind] as EngineKind[];

/** The engine a manifest names, if this Holdfast has it. */
export function findEngine(name: string): EngineKind | undefined {
  return KINDS.find((e) => e.name === name);
}

/** The engine a manifest names ("sqlite", "postgres", "postgres-physical", …). */
export function engineByName(name: string): EngineKind {
  const engine = findEngine(name);
  if (!engine) throw new HoldfastError("ENGINE_MISMATCH", `this Holdfast has no "${name}" engine`);
  return engine;
}

/** The engine itself, loaded: for commands that take, restore or check backups. */
export function loadEngine(name: string): Promise<Engine<unknown>> {
  return engineByName(name).load();
}

/** Engines that accept a plain path (no scheme) as a restore target. */
export function pathTargetEngines(): string[] {
  return KINDS.filter((e) => e.pathTargets).map((e) => e.name);
}

function pick(name: string, text: string): { engine: EngineKind; ref: unknown } {
  const engine = engineByName(name);
  return { engine, ref: engine.parse(text) };
}

/**
 * Which engine a source string belongs to, by its scheme (sqlite:, postgres://, postgresql://, or
 * libpq's keyword/value form `host=… dbname=…`); `type: "physical"` takes base backups of a PostgreSQL server.
 */
export function engineForSource(text: string, type?: string): { engine: EngineKind; ref: unknown } {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  const postgres = scheme === "postgres" || scheme === "postgresql" || (!scheme && isKeywordValue(text));
  if (type === "physical" && !postgres) throw new HoldfastError("USAGE", `--type physical takes base backups of a PostgreSQL server, not of "${text}"`, { hint: "give postgres://user@host/db" });
  if (scheme === "sqlite") return pick("sqlite", text);
  if (scheme === "files") return pick("files", text);
  if (postgres) return pick(type === "physical" ? "postgres-physical" : "postgres", text);
  throw new HoldfastError("USAGE", `cannot tell the database kind of "${text}"`, {
    hint: "write sqlite:./app.db, postgres://user@host/db, 'host=… dbname=…' or files:/path/to/folder",
  });
}

export function isPlainPath(text: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(text) && !isKeywordValue(text);
}

/** Like engineForSource, but a plain file path (no scheme, not keyword/value) means a SQLite file. */
export function engineForTarget(text: string): { engine: EngineKind; ref: unknown } {
  return engineForSource(isPlainPath(text) ? `sqlite:${text}` : text);
}

/**
 * Where a backup of `engineName` goes: a plain path is read by that engine when it takes paths (a
 * SQLite file, a data directory, a folder), else as a SQLite file; a string with a scheme names its
 * own engine. The caller checks that the engine is the backup's.
 */
export function targetForBackup(engineName: string, text: string): { engine: EngineKind; ref: unknown } {
  const engine = engineByName(engineName);
  if (isPlainPath(text) && engine.pathTargets) return { engine, ref: engine.parse(text) };
  return engineForTarget(text);
}
