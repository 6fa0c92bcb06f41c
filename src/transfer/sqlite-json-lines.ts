import type Database from "better-sqlite3";
import { ByteOut } from "./byte-out.js";
import type { ExportTable, NormalizedType } from "./format.js";
import type { RowTally } from "./ndjson.js";
import { encodeSqliteValue, type JsonValue } from "./values.js";

/**
 * NDJSON lines written by SQLite itself: `SELECT json_array(…)` hands each row as one JSON text, so
 * an export reads one string a row instead of a JavaScript value per column (and a BigInt per
 * integer). Each column's expression gives exactly the value encodeSqliteValue (values.ts) gives,
 * by the value's storage class (typeof) and the column's normalized type:
 *
 *   integer  a number within ±(2^53−1), else its digits as a string; tagged {"$t": "integer", "v": …}
 *            where the column's type does not take integers plainly, or (NUMERIC, untyped) when a
 *            string would read as text
 *   real     a number (SQLite prints the digits that read back exactly); ±Infinity as a string,
 *            tagged; tagged where the type does not take it plainly (NUMERIC, untyped: a real with
 *            no fraction, since it would read back as an integer)
 *   text     a string; tagged where the type is not TEXT or untyped
 *   blob     SQLite's JSON functions refuse BLOBs (or read them as JSONB): such a value is written
 *            {"$hex": "<hex>"}, and a line holding one is re-encoded here (encodeSqliteValue,
 *            base64). `{"$hex":` can only be that marker: inside a JSON string its quotes are
 *            escaped. Lines without BLOBs never become JavaScript values.
 */

const SAFE = 9007199254740991; // Number.MAX_SAFE_INTEGER
/** json_array takes at most 127 arguments (SQLITE_MAX_FUNCTION_ARG's default). */
const MAX_COLUMNS = 100;
const BLOB_MARK = '{"$hex":';
const OUT_BYTES = 256 * 1024;

const tag = (kind: string, value: string) => `json_object('$t', '${kind}', 'v', ${value})`;

/** One column's JSON value as SQL; a BLOB gives {"$hex": "<hex>"}. */
export function sqliteJsonValueSql(column: string, type: NormalizedType): string {
  const c = column;
  const safe = `${c} BETWEEN ${-SAFE} AND ${SAFE}`;
  const digits = `CAST(${c} AS TEXT)`;
  const integer =
    type === "integer" ? `CASE WHEN ${safe} THEN ${c} ELSE ${digits} END`
    : type === "numeric" || type === "any" ? `CASE WHEN ${safe} THEN ${c} ELSE ${tag("integer", digits)} END`
    : tag("integer", `CASE WHEN ${safe} THEN ${c} ELSE ${digits} END`);
  const infinite = `${c} IN (9e999, -9e999)`;
  // + 0.0 turns -0.0 into 0.0, as JSON.stringify writes it; every other real is unchanged.
  const realValue = `CASE WHEN ${c} = 9e999 THEN 'Infinity' WHEN ${c} = -9e999 THEN '-Infinity' ELSE ${c} + 0.0 END`;
  const real =
    type === "float" ? `CASE WHEN ${infinite} THEN ${tag("float", realValue)} ELSE ${c} + 0.0 END`
    : type === "numeric" || type === "any" ? `CASE WHEN ${infinite} OR ${c} = round(${c}) THEN ${tag("float", realValue)} ELSE ${c} + 0.0 END`
    : tag("float", realValue);
  const text = type === "text" || type === "any" ? c : tag("text", c);
  return `CASE typeof(${c}) WHEN 'integer' THEN ${integer} WHEN 'real' THEN ${real} WHEN 'text' THEN ${text} WHEN 'blob' THEN json_object('$hex', hex(${c})) END`;
}

/** The SELECT of a table's lines, or undefined when it has too many columns for it. */
export function sqliteJsonLinesSelect(table: ExportTable, quote: (name: string) => string, where: string | undefined): string | undefined {
  const n = table.columns.length;
  if (n === 0 || n > MAX_COLUMNS) return undefined;
  const values = table.columns.map((c) => sqliteJsonValueSql(quote(c.name), c.type));
  return `SELECT json_array(${values.join(", ")}) FROM ${quote(table.name)}${where ? ` WHERE ${where}` : ""}`;
}

/**
 * The statement's rows → NDJSON bytes in chunks of about 256 KiB, rows counted into `tally`; a row
 * holding BLOBs is re-encoded here. Each line is written into the chunk as it comes, so its string
 * dies young (no array of lines kept until the chunk is full: those outlived V8's scavenges and
 * filled the old generation).
 */
export async function* sqliteJsonLines(stmt: Database.Statement, table: ExportTable, tally: RowTally): AsyncIterable<Buffer> {
  const types = table.columns.map((c) => c.type);
  const out = new ByteOut(OUT_BYTES + 64 * 1024);
  for (const line of stmt.pluck(true).iterate() as IterableIterator<string>) {
    let text = line;
    if (line.includes(BLOB_MARK)) {
      const values = JSON.parse(line) as JsonValue[];
      for (let i = 0; i < types.length; i++) {
        const v = values[i];
        if (v !== null && typeof v === "object" && !Array.isArray(v) && typeof v.$hex === "string") values[i] = encodeSqliteValue(types[i]!, Buffer.from(v.$hex, "hex"));
      }
      text = JSON.stringify(values);
    }
    out.room(3 * text.length + 1); // UTF-8 takes at most 3 bytes per UTF-16 unit
    out.at += out.buf.write(text, out.at);
    out.buf[out.at++] = 0x0a;
    tally.rows++;
    if (out.at >= OUT_BYTES) yield out.take(OUT_BYTES + 64 * 1024);
  }
  if (out.at) yield out.take(0);
}
