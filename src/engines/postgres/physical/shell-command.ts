import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The command lines Holdfast writes into PostgreSQL's configuration (archive_command,
 * restore_command). Two layers, each escaped on its own:
 *  1. PostgreSQL replaces %p, %f, %r and %% in the text before it hands it to /bin/sh, so a literal
 *     `%` in a path is written `%%`;
 *  2. /bin/sh: an argument that is not plainly safe goes in single quotes, an embedded `'` as
 *     `'\''` — nothing inside ('$(…)', backquotes, `"`, `\`, spaces) is interpreted.
 * Writing the line into postgresql.conf is a third layer: see quoteConf.
 */

/** A fixed piece written as is: PostgreSQL's placeholders (%p, %f) and paths built from them. */
export interface RawPart {
  raw: string;
}

export function raw(text: string): RawPart {
  return { raw: text };
}

const SAFE = /^[A-Za-z0-9_@+=:,./-]+$/;

/** One argument for /bin/sh (Python's shlex.quote): bare when only safe characters, else '…'. */
export function shellQuote(arg: string): string {
  if (arg !== "" && SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, "'\\''")}'`;
}

/** A command line PostgreSQL runs through %-substitution and then /bin/sh. */
export function pgCommandLine(parts: readonly (string | RawPart)[]): string {
  return parts.map((p) => (typeof p === "string" ? shellQuote(p).replace(/%/g, "%%") : p.raw)).join(" ");
}

/** A setting value in postgresql.conf / postgresql.auto.conf: '…' with ' doubled and \ escaped (the parser reads \ as an escape). */
export function quoteConf(value: string): string {
  const escaped = value.replace(/\\/g, "\\\\").replace(/'/g, "''").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
  return `'${escaped}'`;
}

/** The repository as a command argument: a URL as given, a folder as an absolute path. */
export function repoArgument(repo: string): string {
  return /^[a-z0-9]+:\/\//i.test(repo) ? repo : resolve(repo);
}

/** Absolute path of one of the CLI's entry points (next to this build's cli/ folder). */
export function cliEntry(name: "main.js" | "wal-push-main.js" | "wal-fetch-client.js"): string {
  return fileURLToPath(new URL(`../../../cli/${name}`, import.meta.url));
}
