import { ident } from "../engines/postgres/connection.js";
import type { ExportColumn, ExportTable } from "./format.js";
import type { RowTally } from "./ndjson.js";

/**
 * NDJSON lines written by PostgreSQL itself: `COPY (SELECT json_build_array(…)) TO STDOUT (FORMAT
 * binary)` hands each row as one JSON text, so the export only frames it — no parsing and
 * re-encoding of every value in JavaScript. Each column's expression yields exactly the value
 * encodePgValue (values.ts) gives from the column's text form in the export session (UTC, ISO):
 * integers as numbers (strings beyond ±2^53−1), floats as numbers ("NaN", "Infinity" as strings),
 * bytes as base64, timestamps as ISO 8601, jsonb as JSON, everything else as its text form.
 */

const SAFE = 9007199254740991; // Number.MAX_SAFE_INTEGER

/** The type's output function, as COPY's text form uses (a ::text cast may differ: char(n), inet). */
const textOf = (v: string) => `format('%s', ${v})`;
const orNull = (v: string, expr: string) => `CASE WHEN ${v} IS NULL THEN NULL ELSE ${expr} END`;

/** json_build_array takes at most 100 arguments (FUNC_MAX_ARGS). */
const MAX_COLUMNS = 100;

/** One column's NDJSON value as SQL, or undefined when only encodePgValue gives it (a json column: JavaScript reads its text). */
export function jsonValueSql(column: ExportColumn): string | undefined {
  const v = ident(column.name);
  switch (column.type) {
    case "integer":
      return `CASE WHEN ${v}::int8 BETWEEN ${-SAFE} AND ${SAFE} THEN to_json(${v}::int8) ELSE to_json(${v}::text) END`;
    case "float":
      return `to_json(${v})`;
    case "boolean":
      return `${v}::boolean`;
    case "bytes":
      return `translate(encode(${v}, 'base64'), chr(10), '')`;
    case "timestamptz":
      return orNull(v, `CASE WHEN right(${textOf(v)}, 3) = '+00' THEN replace(left(${textOf(v)}, -3), ' ', 'T') || 'Z' ELSE ${textOf(v)} END`);
    case "timestamp":
      return orNull(v, `CASE WHEN right(${textOf(v)}, 3) = ' BC' OR ${v} IN ('infinity', '-infinity') THEN ${textOf(v)} ELSE replace(${textOf(v)}, ' ', 'T') END`);
    case "json":
      // jsonb's text is one line; a json column keeps its own (newlines and all).
      if (column.declaredType !== "jsonb") return undefined;
      return `CASE jsonb_typeof(${v}) WHEN 'null' THEN jsonb_build_object('$json', ${v}) WHEN 'object' THEN CASE WHEN ${v} ? '$json' AND ${v} - '$json' = '{}' THEN jsonb_build_object('$json', ${v}) ELSE ${v} END ELSE ${v} END`;
    default:
      return orNull(v, textOf(v));
  }
}

/** The SELECT whose one column is a row's NDJSON line, or undefined when a column needs JavaScript. */
export function jsonLinesSelect(table: ExportTable, from: string, where: string | undefined): string | undefined {
  if (table.columns.length > MAX_COLUMNS) return undefined;
  const values = table.columns.map(jsonValueSql);
  if (values.some((e) => e === undefined)) return undefined;
  return `SELECT json_build_array(${values.join(", ")}) FROM ${from}${where ? ` WHERE ${where}` : ""}`;
}

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");
const HEADER = SIGNATURE.length + 8; // flags, header extension length
const OUT_BYTES = 256 * 1024;

/**
 * COPY binary output of one json column → NDJSON bytes (a line per row) in chunks of about
 * 256 KiB, rows counted into `tally` (https://www.postgresql.org/docs/current/sql-copy.html,
 * "Binary Format"). Output that ends inside a row, or is not one non-null field a row, throws.
 */
export async function* copyBinaryLines(stream: AsyncIterable<Buffer>, tally: RowTally): AsyncIterable<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let pos = -1; // -1: the header is not read yet
  let ended = false;
  let out = Buffer.allocUnsafe(OUT_BYTES);
  let used = 0;
  for await (const chunk of stream) {
    if (ended) throw new Error("COPY output continues after its trailer");
    const rest = buf.subarray(Math.max(pos, 0));
    buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    if (pos < 0) {
      if (buf.length < HEADER || buf.length < HEADER + buf.readUInt32BE(HEADER - 4)) continue;
      if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error("COPY output is not in the binary format");
      pos = HEADER + buf.readUInt32BE(HEADER - 4);
    } else pos = 0;
    while (buf.length - pos >= 2) {
      const fields = buf.readInt16BE(pos);
      if (fields === -1) {
        ended = true;
        pos += 2;
        break;
      }
      if (buf.length - pos < 6) break;
      const length = buf.readInt32BE(pos + 2);
      if (fields !== 1 || length < 0) throw new Error(`COPY row of ${fields} field(s), length ${length}: expected one JSON text`);
      if (buf.length - pos < 6 + length) break;
      if (used + length + 1 > out.length) {
        if (used) yield out.subarray(0, used);
        out = Buffer.allocUnsafe(Math.max(OUT_BYTES, length + 1));
        used = 0;
      }
      used += buf.copy(out, used, pos + 6, pos + 6 + length);
      out[used++] = 0x0a;
      tally.rows++;
      pos += 6 + length;
    }
  }
  if (used) yield out.subarray(0, used);
  if (!ended || pos !== buf.length) throw new Error("COPY output ended inside a row");
}
