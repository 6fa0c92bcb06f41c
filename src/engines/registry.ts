import { HoldfastError } from "../errors.js";
import type { Engine } from "./engine.js";
import { sqliteEngine } from "./sqlite/engine.js";
import { postgresEngine } from "./postgres/logical.js";
import { physicalEngine } from "./postgres/physical/engine.js";
import { filesEngine } from "./files/engine.js";
import { isKeywordValue } from "./postgres/connection.js";

const ENGINES: Engine<unknown>[] = [sqliteEngine as Engine<unknown>, postgresEngine as Engine<unknown>, physicalEngine as Engine<unknown>, filesEngine as Engine<unknown>];

/** The engine a manifest names, if this Holdfast has it. */
export function findEngine(name: string): Engine<unknown> | undefined {
  return ENGINES.find((e) => e.name === name);
}

/** The engine a manifest names ("sqlite", "postgres", "postgres-physical", …). */
export function engineByName(name: string): Engine<unknown> {
  const engine = findEngine(name);
  if (!engine) throw new HoldfastError("ENGINE_MISMATCH", `this Holdfast has no "${name}" engine`);
  return engine;
}

/** Engines that accept a plain path (no scheme) as a restore target. */
export function pathTargetEngines(): string[] {
  return ENGINES.filter((e) => e.pathTargets).map((e) => e.name);
}

function pick(name: string, text: string): { engine: Engine<unknown>; ref: unknown } {
  const engine = engineByName(name);
  return { engine, ref: engine.parse(text) };
}

/**
 * Which engine a source string belongs to, by its scheme (sqlite:, postgres://, postgresql://, or
 * libpq's keyword/value form `host=… dbname=…`); `type: "physical"` takes base backups of a PostgreSQL server.
 */
export function engineForSource(text: string, type?: string): { engine: Engine<unknown>; ref: unknown } {
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
export function engineForTarget(text: string): { engine: Engine<unknown>; ref: unknown } {
  return engineForSource(isPlainPath(text) ? `sqlite:${text}` : text);
}

/**
 * Where a backup of `engineName` goes: a plain path is read by that engine when it takes paths (a
 * SQLite file, a data directory, a folder), else as a SQLite file; a string with a scheme names its
 * own engine. The caller checks that the engine is the backup's.
 */
export function targetForBackup(engineName: string, text: string): { engine: Engine<unknown>; ref: unknown } {
  const engine = engineByName(engineName);
  if (isPlainPath(text) && engine.pathTargets) return { engine, ref: engine.parse(text) };
  return engineForTarget(text);
}
