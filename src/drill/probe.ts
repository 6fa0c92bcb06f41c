/**
 * What the drill asks of a restored database once the engine has put it in place: the layers of
 * checks that need a live connection. One implementation per kind of connection (SQLite file,
 * PostgreSQL server); the drill itself never speaks SQL.
 */
export interface ProbeResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DrillProbe {
  /** Create a scratch table, write and read back a row, drop it; throws when any step fails. */
  writeProbe(): Promise<string>;
  /** Each sequence (PostgreSQL) or AUTOINCREMENT counter (SQLite) hands out a value past the largest id in its column. */
  sequences(): Promise<ProbeResult[]>;
  /** Each statement's first column of its first row is truthy. */
  smoke(statements: string[]): Promise<ProbeResult[]>;
  close(): Promise<void>;
}

export const PROBE_TABLE = "holdfast_drill_probe";

/** The truthiness a smoke statement's first column is judged by (SQL booleans, numbers, text). */
export function truthy(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === "boolean") return value;
  if (typeof value === "number" || typeof value === "bigint") return Number(value) !== 0;
  const text = String(value).trim().toLowerCase();
  return !["", "0", "f", "false", "no", "off"].includes(text);
}

/**
 * A smoke file's statements: split at semicolons that end a line (outside quotes), comments and
 * blank statements dropped. One statement per `;`-terminated line (or lines) keeps this exact.
 */
export function splitStatements(text: string): string[] {
  return text
    .split(/;[ \t]*(?:\r?\n|$)/)
    .map((s) => s.split(/\r?\n/).filter((l) => !/^\s*--/.test(l)).join("\n").trim())
    .filter((s) => s.length > 0);
}

export function describeValue(value: unknown): string {
  return value === undefined ? "no row" : JSON.stringify(value) ?? String(value);
}
