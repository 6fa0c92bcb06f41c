import { readFile } from "node:fs/promises";
import { fromSystemError, HoldfastError } from "../errors.js";

/**
 * The user's SQL assertions (--checks checks.sql). The file holds statements separated by `;`
 * (semicolons inside quotes, dollar quotes and comments do not count). Each statement is an
 * assertion: it passes when it returns at least one row and the first column of the first row is
 * truthy — not NULL, not false, not 0 (nor the text "0": PostgreSQL sends
 * bigint and numeric as text) and not the empty string. Its name is the last `-- ` comment
 * line written before it (else its first line). Assertions run read-only.
 */
export interface Assertion {
  name: string;
  sql: string;
}

export async function readAssertions(path: string): Promise<Assertion[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw fromSystemError(err, `checks file ${path}`);
  }
  const assertions = parseAssertions(text);
  if (assertions.length === 0) throw new HoldfastError("USAGE", `checks file ${path} holds no SQL statement`, { hint: "write one SELECT a line, each returning true when the data is right" });
  return assertions;
}

export function parseAssertions(text: string): Assertion[] {
  return splitStatements(text).map(({ sql, comment }) => ({ name: comment ?? sql.split("\n")[0]!.slice(0, 80), sql }));
}

/** Statements of a SQL script, with the last line comment before each. */
export function splitStatements(text: string): { sql: string; comment?: string }[] {
  const out: { sql: string; comment?: string }[] = [];
  let current = "";
  let comment: string | undefined;
  let i = 0;
  const flush = () => {
    const sql = current.trim();
    if (sql) out.push({ sql, comment });
    current = "";
    comment = undefined;
  };
  while (i < text.length) {
    const c = text[i]!;
    const rest = text.slice(i);
    if (rest.startsWith("--")) {
      const end = text.indexOf("\n", i);
      const line = text.slice(i + 2, end < 0 ? text.length : end).trim();
      if (line && !current.trim()) comment = line;
      i = end < 0 ? text.length : end + 1;
      current += "\n";
      continue;
    }
    if (rest.startsWith("/*")) {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
      current += " ";
      continue;
    }
    const dollar = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(rest);
    if (c === "'" || c === '"' || dollar) {
      const close = dollar ? dollar[0] : c;
      const end = text.indexOf(close, i + close.length);
      const stop = end < 0 ? text.length : end + close.length;
      current += text.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === ";") {
      flush();
      i++;
      continue;
    }
    current += c;
    i++;
  }
  flush();
  return out;
}

/** The rule of an assertion's result: see Assertion. */
export function verdict(rows: unknown[][]): { ok: boolean; detail: string } {
  if (rows.length === 0) return { ok: false, detail: "returned no row" };
  const value = rows[0]![0];
  const shown = value === null || value === undefined ? "NULL" : typeof value === "string" ? JSON.stringify(value) : String(value);
  const ok = !(value === null || value === undefined || value === false || value === 0 || value === 0n || value === "" || value === "0");
  return { ok, detail: `returned ${shown}` };
}
