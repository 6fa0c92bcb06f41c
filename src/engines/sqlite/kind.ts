import { isAbsolute, resolve } from "node:path";
import { HoldfastError } from "../../errors.js";
import { engineKind, type EngineTraits } from "../kind.js";

export interface SqliteRef {
  path: string;
}

/** A SQLite file: `sqlite:./app.db`, or a plain path where a target is expected. */
export const sqliteTraits: EngineTraits<SqliteRef> = {
  name: "sqlite",
  pathTargets: true,

  parse(text: string): SqliteRef {
    const raw = text.startsWith("sqlite://") ? text.slice("sqlite://".length) : text.startsWith("sqlite:") ? text.slice("sqlite:".length) : text;
    if (!raw) throw new HoldfastError("USAGE", `no file path in "${text}" (expected sqlite:./app.db)`);
    return { path: isAbsolute(raw) ? raw : resolve(raw) };
  },

  describe(ref: SqliteRef): string {
    return `sqlite:${ref.path}`;
  },
};

export const sqliteKind = engineKind(sqliteTraits, async () => (await import("./engine.js")).sqliteEngine);
