import { BACKSLASH, ByteOut, MINUS, QUOTE, ZERO, digitsAt, isDigit } from "./byte-out.js";
import { scanNumber, token } from "./json-scan.js";
import type { ExportColumn } from "./format.js";
import { wholeLineBytes } from "./lines.js";
import type { RowTally } from "./ndjson.js";
import { copyTextFields } from "./pg-copy-text.js";
import { encodePgValue } from "./values.js";

/**
 * PostgreSQL COPY text → NDJSON lines, byte to byte: what an export of PostgreSQL writes. The server
 * sends a plain `COPY … TO STDOUT` (its cheapest output) and each field becomes its JSON value here
 * without a JavaScript value in between, for the forms that are a plain rewrite of its text:
 * integers of up to 15 digits and finite floats as numbers, t/f as booleans, ISO timestamps, hex
 * bytea as base64, jsonb as its JSON text, and text of every other type as a JSON string.
 *
 * Exactness: a field is written here only when its JSON value is the one encodePgValue (values.ts)
 * gives for the same text in the export session (UTC, ISO dates, hex bytea); any other field goes
 * through encodePgValue itself. A float keeps the digits PostgreSQL printed (the shortest that read
 * back exactly, as extra_float_digits is set), which may be spelled differently from JavaScript's
 * (1e-07, not 1e-7): the same number.
 */

const TAB = 0x09;
const NEWLINE = 0x0a;
const OUT_BYTES = 256 * 1024;
const HEX = "0123456789abcdef";


/** Whether the field held a backslash (an escape) — set while the line is split. */
let escapes = false;

type FieldWriter = (b: Buffer, s: number, e: number, out: ByteOut) => boolean;


/** An integer as PostgreSQL prints it, with at most 15 digits: a safe JSON number as it is. */
function integerField(b: Buffer, s: number, e: number, out: ByteOut): boolean {
  if (scanNumber(b, s, e) !== e || !token.integer || token.digits > 15) return false;
  out.bytes(b, s, e);
  return true;
}

/** A float PostgreSQL printed as a JSON number (NaN and the infinities are not one). */
function floatField(b: Buffer, s: number, e: number, out: ByteOut): boolean {
  if (scanNumber(b, s, e) !== e) return false;
  out.bytes(b, s, e);
  return true;
}

function booleanField(b: Buffer, s: number, e: number, out: ByteOut): boolean {
  if (e - s !== 1) return false;
  if (b[s] === 0x74) out.text("true");
  else if (b[s] === 0x66) out.text("false");
  else return false;
  return true;
}

/** bytea's hex output, \x… (its backslash escaped by COPY: \\x…), as base64. */
function bytesField(b: Buffer, s: number, e: number, out: ByteOut): boolean {
  if (e - s < 3 || b[s] !== BACKSLASH || b[s + 1] !== BACKSLASH || b[s + 2] !== 0x78 || (e - s - 3) % 2 !== 0) return false;
  const hex = b.toString("latin1", s + 3, e);
  const bytes = Buffer.from(hex, "hex");
  if (bytes.length * 2 !== hex.length) return false;
  out.byte(QUOTE);
  out.text(bytes.toString("base64"));
  out.byte(QUOTE);
  return true;
}

/** "2026-11-24 10:00:00.5+00" → "2026-11-24T10:00:00.5Z" (zoned); "2026-11-24 10:00:00" → "2026-11-24T10:00:00". Anything else (BC, infinity) is the decoding path's. */
function timestampField(zoned: boolean): FieldWriter {
  return (b, s, e, out) => {
    if (escapes) return false;
    let i = s;
    while (i < e && isDigit(b[i])) i++;
    if (i - s < 4 || b[i] !== MINUS || !digitsAt(b, i + 1, 2) || b[i + 3] !== MINUS || !digitsAt(b, i + 4, 2) || b[i + 6] !== 0x20) return false;
    const space = i + 6;
    i = space + 1;
    if (!digitsAt(b, i, 2) || b[i + 2] !== 0x3a || !digitsAt(b, i + 3, 2) || b[i + 5] !== 0x3a || !digitsAt(b, i + 6, 2)) return false;
    i += 8;
    if (i < e && b[i] === 0x2e && isDigit(b[i + 1])) {
      i++;
      while (i < e && isDigit(b[i])) i++;
    }
    const timeEnd = i;
    if (zoned) {
      if (!(e - i === 3 && b[i] === 0x2b && b[i + 1] === ZERO && b[i + 2] === ZERO)) return false;
    } else if (i !== e) return false;
    out.byte(QUOTE);
    out.bytes(b, s, space);
    out.byte(0x54); // T
    out.bytes(b, space + 1, timeEnd);
    if (zoned) out.byte(0x5a); // Z
    out.byte(QUOTE);
    return true;
  };
}

/** A jsonb document: its text, unless it is null or an object whose key is "$json" (wrapped by the decoding path). */
function jsonbField(b: Buffer, s: number, e: number, out: ByteOut): boolean {
  if (e - s === 4 && b[s] === 0x6e) return false; // null
  if (b[s] === 0x7b) {
    let i = s + 1;
    while (i < e && b[i] === 0x20) i++;
    if (b[i] === QUOTE && b[i + 1] === 0x24) return false; // {"$…
  }
  if (!escapes) {
    out.bytes(b, s, e);
    return true;
  }
  // jsonb's text is one line: its only COPY escape is a doubled backslash (inside its strings).
  const mark = out.at;
  out.room(e - s);
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c === BACKSLASH) {
      if (b[i + 1] !== BACKSLASH) {
        out.at = mark;
        return false;
      }
      i++;
    }
    out.buf[out.at++] = c;
  }
  return true;
}

/** Any other type's text as a JSON string, escaped as JSON.stringify escapes it. */
function stringField(b: Buffer, s: number, e: number, out: ByteOut): boolean {
  const mark = out.at;
  out.room(6 * (e - s) + 2);
  const o = out.buf;
  let at = out.at;
  o[at++] = QUOTE;
  for (let i = s; i < e; i++) {
    let c = b[i]!;
    if (c > QUOTE && c !== BACKSLASH) {
      o[at++] = c; // most bytes: nothing to escape
      continue;
    }
    if (c === BACKSLASH) {
      const x = b[++i];
      if (x === BACKSLASH) {
        o[at++] = BACKSLASH;
        o[at++] = BACKSLASH;
        continue;
      }
      if (x === 0x6e || x === 0x72 || x === 0x74 || x === 0x62 || x === 0x66) {
        o[at++] = BACKSLASH;
        o[at++] = x; // \n \r \t \b \f: the same letters in JSON
        continue;
      }
      if (x !== 0x76) {
        out.at = mark; // octal or hex escapes: COPY TO does not write them
        return false;
      }
      c = 0x0b; // \v: JSON has no letter for it
    }
    if (c === QUOTE) {
      o[at++] = BACKSLASH;
      o[at++] = QUOTE;
    } else if (c < 0x20) {
      o[at++] = BACKSLASH;
      o[at++] = 0x75;
      o[at++] = ZERO;
      o[at++] = ZERO;
      o[at++] = HEX.charCodeAt(c >> 4);
      o[at++] = HEX.charCodeAt(c & 15);
    } else o[at++] = c;
  }
  o[at++] = QUOTE;
  out.at = at;
  return true;
}

function writerFor(column: ExportColumn): FieldWriter | undefined {
  switch (column.type) {
    case "integer":
      return integerField;
    case "float":
      return floatField;
    case "boolean":
      return booleanField;
    case "bytes":
      return bytesField;
    case "timestamptz":
      return timestampField(true);
    case "timestamp":
      return timestampField(false);
    case "json":
      // A json column's own text may span lines: the decoding path makes it one.
      return column.declaredType === "jsonb" ? jsonbField : undefined;
    default:
      return stringField;
  }
}

/**
 * COPY text output (a line per row, fields split by tabs, NULL as \N) of `columns` → NDJSON bytes,
 * a JSON array a line, in chunks of about 256 KiB; rows counted into `tally`. Output that ends
 * inside a row, or a row of another width, throws.
 */
export async function* copyTextToNdjson(stream: AsyncIterable<Buffer>, columns: readonly ExportColumn[], tally: RowTally): AsyncIterable<Buffer> {
  const writers = columns.map(writerFor);
  const width = columns.length;
  const out = new ByteOut(OUT_BYTES + 64 * 1024);
  const fallback = (k: number, b: Buffer, s: number, e: number) => {
    const text = copyTextFields(b.toString("utf8", s, e))[0]!;
    out.text(JSON.stringify(encodePgValue(columns[k]!.type, text)));
  };
  const line = (b: Buffer, start: number, end: number) => {
    out.byte(0x5b);
    let s = start;
    // A data tab is written as \t: every tab byte ends a field. The next backslash is looked up once, not per byte.
    let backslash = b.indexOf(BACKSLASH, start);
    for (let k = 0; k < width; k++) {
      if (k) out.byte(0x2c);
      let e = b.indexOf(TAB, s);
      if (e < 0 || e > end) e = end;
      if (backslash >= 0 && backslash < s) backslash = b.indexOf(BACKSLASH, s);
      escapes = backslash >= 0 && backslash < e;
      if ((e === end && k < width - 1) || (e < end && k === width - 1)) throw new Error(`COPY row of another width than its ${width} columns`);
      if (e - s === 2 && b[s] === BACKSLASH && b[s + 1] === 0x4e) out.text("null");
      else if (!writers[k]?.(b, s, e, out)) fallback(k, b, s, e);
      s = e + 1;
    }
    out.byte(0x5d);
    out.byte(NEWLINE);
  };
  for await (const run of wholeLineBytes(stream, { endsInside: () => new Error("COPY output ended inside a row") })) {
    for (let start = 0, end = run.indexOf(NEWLINE); end >= 0; start = end + 1, end = run.indexOf(NEWLINE, start)) {
      line(run, start, end);
      tally.rows++;
    }
    if (out.at >= OUT_BYTES) yield out.take(OUT_BYTES + 64 * 1024);
  }
  if (out.at) yield out.take(0);
}
