import type { Settings } from "../config/load.js";
import { HoldfastError } from "../errors.js";
import { engineForTarget } from "../engines/registry.js";

/**
 * The source a command is about, as manifests record it (engine.describe: credentials removed,
 * paths absolute): from a database name in holdfast.yaml, a URI (postgres://…, sqlite:…), or a
 * plain file path (SQLite).
 */
export function resolveSourceRef(text: string, settings: Pick<Settings, "databases">): string {
  const configured = settings.databases[text];
  return describeSource(configured ? configured.source : text);
}

export function describeSource(text: string): string {
  try {
    const { engine, ref } = engineForTarget(text);
    return engine.describe(ref);
  } catch (err) {
    if (err instanceof HoldfastError && err.code === "USAGE") {
      throw new HoldfastError("USAGE", `--source: ${err.message}`, { hint: "give a database name from holdfast.yaml, postgres://…, sqlite:./app.db or a file path" });
    }
    throw err;
  }
}
