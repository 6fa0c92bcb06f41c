import { HoldfastError } from "../errors.js";
import type { Engine } from "./engine.js";
import { sqliteEngine } from "./sqlite/engine.js";
import { postgresEngine } from "./postgres/logical.js";
import { filesEngine } from "./files/engine.js";

const ENGINES: Engine<unknown>[] = [sqliteEngine as Engine<unknown>, postgresEngine as Engine<unknown>, filesEngine as Engine<unknown>];

export function engineByName(name: string): Engine<unknown> {
  const engine = ENGINES.find((e) => e.name === name);
  if (!engine) throw new HoldfastError("ENGINE_MISMATCH", `this Holdfast has no "${name}" engine`);
  return engine;
}

/** Which engine a source string belongs to, by its scheme (sqlite:, postgres://, postgresql://). */
export function engineForSource(text: string): { engine: Engine<unknown>; ref: unknown } {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (scheme === "sqlite") return { engine: sqliteEngine as Engine<unknown>, ref: sqliteEngine.parse(text) };
  if (scheme === "files") return { engine: filesEngine as Engine<unknown>, ref: filesEngine.parse(text) };
  if (scheme === "postgres" || scheme === "postgresql") {
    const engine = engineByName("postgres");
    return { engine, ref: engine.parse(text) };
  }
  // libpq's keyword/value form: host=/var/run/postgresql dbname=app user=app
  if (/^\s*[A-Za-z_]+\s*=/.test(text)) {
    const engine = engineByName("postgres");
    return { engine, ref: engine.parse(text) };
  }
  throw new HoldfastError("USAGE", `cannot tell the database kind of "${text}"`, {
    hint: "write sqlite:./app.db, postgres://user@host/db or 'host=… dbname=…'",
  });
}

/** Like engineForSource, but a plain file path (no scheme, not keyword/value) means a SQLite file. */
export function engineForTarget(text: string): { engine: Engine<unknown>; ref: unknown } {
  const plainPath = !/^[a-z][a-z0-9+.-]*:/i.test(text) && !/^\s*[A-Za-z_]+\s*=/.test(text);
  return engineForSource(plainPath ? `sqlite:${text}` : text);
}
