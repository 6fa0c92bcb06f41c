import { readFile } from "node:fs/promises";
import { fromSystemError, HoldfastError } from "../errors.js";
import { splitStatements } from "./split.js";

/**
 * The user's SQL assertions (--checks checks.sql). The file holds statements separated by `;`,
 * split as migrations are (split.ts: quotes, dollar quotes, comments and trigger bodies never
 * split). Each statement is an assertion: it passes when it returns at least one row and the first column of the first row is
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
  return splitStatements(text)
    .map((s) => nameAndSql(s.text))
    .map(({ sql, comment }) => ({ name: comment ?? sql.split("\n")[0]!.slice(0, 80), sql }));
}

/**
 * A statement's name and SQL: the last `-- ` comment line written before it names it; the SQL
 * is the statement without those leading comments.
 */
function nameAndSql(text: string): { sql: string; comment?: string } {
  const lines = text.split("\n");
  let comment: string | undefined;
  let first = 0;
  while (first < lines.length && (lines[first]!.trim() === "" || lines[first]!.trim().startsWith("--"))) {
    const line = lines[first]!.trim().slice(2).trim();
    if (line) comment = line;
    first++;
  }
  return { sql: lines.slice(first).join("\n").trim(), comment };
}

/** The rule of an assertion's result: see Assertion. */
export function verdict(rows: unknown[][]): { ok: boolean; detail: string } {
  if (rows.length === 0) return { ok: false, detail: "returned no row" };
  const value = rows[0]![0];
  const shown = value === null || value === undefined ? "NULL" : typeof value === "string" ? JSON.stringify(value) : String(value);
  const ok = !(value === null || value === undefined || value === false || value === 0 || value === 0n || value === "" || value === "0");
  return { ok, detail: `returned ${shown}` };
}
