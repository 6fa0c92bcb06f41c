import { EPOCH_TEXT, MILLISECONDS_FROM } from "./pg-conversions.js";
import { BACKSLASH, ByteOut, MINUS, QUOTE, ZERO, isDigit } from "./byte-out.js";
import { scanValue, scanWord, skipSpace, token } from "./json-scan.js";
import { canonicalNumber, isDecimalText, isIsoText, isMinusZero, shortPlainDecimal, smallInteger } from "./token-text.js";
import { copyField } from "./pg-copy.js";
import type { ExportColumn } from "./format.js";
import type { ColumnConversion, TargetValue } from "./target.js";
import { decodeValue, type DecodedValue } from "./values.js";

/**
 * NDJSON lines → PostgreSQL COPY text, byte to byte, for the values whose COPY field is their JSON
 * token or a plain rewrite of it: no JavaScript value is built for them (no JSON.parse of the line,
 * no BigInt, no string per value), which is most of an import's CPU otherwise.
 *
 * Exactness: a field is written here only when it is the very text the decoding path gives
 * (decodeValue → the column's conversion → copyField), case by case below; any other value of a
 * line goes through that path itself (`generic`), and a line that is not a well-formed JSON array
 * of the table's width, or holds a value that does not convert, returns false so the caller decodes
 * the whole line the usual way (its error, or its reject record). The one deliberate difference: a
 * jsonb document is handed over as its JSON text, so its numbers keep every digit instead of going
 * through a JavaScript double.
 */

/** Types whose decoded value is the JSON string itself (values.ts, decodeValue). */
const STRING_TYPES = new Set(["text", "decimal", "timestamptz", "timestamp", "date", "time", "uuid", "other", "any"]);
/** Types whose integer token decodes to that integer (or a number equal to it). */
const NUMBER_TYPES = new Set(["integer", "numeric", "any", "float"]);
/** How both exporters open a text value tagged in a column of another type. */
const TEXT_TAG = Buffer.from('{"$t":"text","v":');
/** Digits an integer token may have to fit the declared column (and stay a safe integer): beyond, the decoding path checks it. */
const INTEGER_DIGITS: Record<string, number> = { smallint: 4, integer: 9, bigint: 15 };
const SAFE_DIGITS = 15;

const MAX_DATE_MS = 8.64e15;

/** The output: COPY text bytes. */
class Out extends ByteOut {
  /** Bytes with COPY's escapes for a backslash, tab and carriage return (raw in JSON only as escapes' backslashes and spaces). */
  escaped(b: Buffer, s: number, e: number): void {
    this.room(2 * (e - s));
    const o = this.buf;
    let at = this.at;
    for (let i = s; i < e; i++) {
      const c = b[i]!;
      if (c === BACKSLASH) {
        o[at++] = BACKSLASH;
        o[at++] = BACKSLASH;
      } else if (c === 0x09) {
        o[at++] = BACKSLASH;
        o[at++] = 0x74;
      } else if (c === 0x0d) {
        o[at++] = BACKSLASH;
        o[at++] = 0x72;
      } else o[at++] = c;
    }
    this.at = at;
  }
}

/** A field written straight from its token (start, end), or false: the decoding path writes it. */
type FieldWriter = (b: Buffer, s: number, e: number, out: Out) => boolean;

/**
 * A JSON string's contents as a COPY field: the simple escapes rewritten (\n → COPY's \n, \\ →
 * COPY's \\, \" → ", \/ → /, \b and \f → their byte, as copyField leaves them), \u… left to the
 * decoding path.
 */
function stringField(b: Buffer, s: number, e: number, out: Out): boolean {
  if (!token.escapes) {
    out.bytes(b, s + 1, e - 1);
    return true;
  }
  const mark = out.at;
  out.room(2 * (e - s));
  const o = out.buf;
  let at = out.at;
  for (let i = s + 1; i < e - 1; i++) {
    const c = b[i]!;
    if (c !== BACKSLASH) {
      o[at++] = c;
      continue;
    }
    const x = b[++i]!;
    if (x === 0x6e || x === 0x72 || x === 0x74) {
      o[at++] = BACKSLASH;
      o[at++] = x;
    } else if (x === BACKSLASH) {
      o[at++] = BACKSLASH;
      o[at++] = BACKSLASH;
    } else if (x === QUOTE || x === 0x2f) o[at++] = x;
    else if (x === 0x62) o[at++] = 0x08;
    else if (x === 0x66) o[at++] = 0x0c;
    else {
      out.at = mark;
      return false;
    }
  }
  out.at = at;
  return true;
}

/** The string token's contents as a JavaScript string, when plain ASCII without escapes. */
function plainAscii(b: Buffer, s: number, e: number): string | undefined {
  return !token.escapes && token.ascii ? b.toString("latin1", s + 1, e - 1) : undefined;
}

/**
 * A number token that is not an integer's (a fraction, an exponent) and is written back as it is:
 * never for an integer column (the decoding path refuses it), only when String() gives the same
 * text, and for NUMERIC/untyped columns only when the value has a fraction (an integral value
 * decodes to a BigInt, written in full digits).
 */
function fractionalAsIs(from: ExportColumn, b: Buffer, s: number, e: number): boolean {
  if (from.type === "integer") return false;
  if (shortPlainDecimal(b, s, e)) return true; // a fraction, never integral
  const text = b.toString("latin1", s, e);
  const value = Number(text);
  return String(value) === text && (from.type === "float" || !Number.isInteger(value));
}

/** The writer for one column when its value can be written from the token, by the target column's type and the export's. */
function fastWriter(from: ExportColumn, to: ExportColumn): FieldWriter | undefined {
  const strings = STRING_TYPES.has(from.type);
  const numbers = NUMBER_TYPES.has(from.type);
  switch (to.type) {
    case "integer": {
      if (!numbers || from.type === "float") return undefined;
      const limit = Math.min(INTEGER_DIGITS[to.declaredType] ?? SAFE_DIGITS, SAFE_DIGITS);
      return (b, s, e, out) => {
        if (!token.integer || token.digits > limit || isMinusZero(b, s, e)) return false;
        out.bytes(b, s, e);
        return true;
      };
    }
    case "decimal":
      return (b, s, e, out) => {
        if (b[s] === QUOTE) {
          if (!strings || token.escapes || !isDecimalText(b, s + 1, e - 1)) return false;
          out.bytes(b, s + 1, e - 1);
          return true;
        }
        if (!numbers || !token.number || isMinusZero(b, s, e)) return false;
        if (token.integer ? token.digits > SAFE_DIGITS : !fractionalAsIs(from, b, s, e)) return false;
        out.bytes(b, s, e);
        return true;
      };
    case "float":
      if (!numbers) return undefined;
      return (b, s, e, out) => {
        if (!token.number || isMinusZero(b, s, e)) return false;
        if (token.integer ? token.digits > SAFE_DIGITS : from.type === "integer" || !canonicalNumber(b, s, e)) return false;
        out.bytes(b, s, e);
        return true;
      };
    case "boolean":
      return (b, s, e, out) => {
        const c = b[s];
        if (from.type === "boolean" && (c === 0x74 || c === 0x66)) out.byte(c); // true → t, false → f
        else if (numbers && e - s === 1 && (c === ZERO || c === 0x31)) out.byte(c === ZERO ? 0x66 : 0x74);
        else return false;
        return true;
      };
    case "timestamptz":
    case "timestamp": {
      const zoned = to.type === "timestamptz";
      return (b, s, e, out) => {
        if (b[s] === QUOTE) {
          if (!strings || token.escapes || !isIsoText(b, s + 1, e - 1)) return false;
          out.bytes(b, s + 1, e - 1);
          return true;
        }
        if (!numbers || !token.integer || token.digits > SAFE_DIGITS) return false;
        const n = smallInteger(b, s, e);
        const ms = Math.abs(n) >= MILLISECONDS_FROM ? n : n * 1000;
        if (Math.abs(ms) > MAX_DATE_MS) return false;
        const iso = new Date(ms).toISOString();
        out.text(zoned ? iso : iso.slice(0, -1));
        return true;
      };
    }
    case "date":
      if (!strings) return undefined;
      return (b, s, e, out) => {
        const text = b[s] === QUOTE ? plainAscii(b, s, e) : undefined;
        if (text === undefined || EPOCH_TEXT.test(text)) return false;
        out.bytes(b, s + 1, e - 1);
        return true;
      };
    case "bytes":
      if (from.type !== "bytes") return undefined;
      return (b, s, e, out) => {
        const text = b[s] === QUOTE ? plainAscii(b, s, e) : undefined;
        if (text === undefined) return false;
        out.text("\\\\x");
        out.text(Buffer.from(text, "base64").toString("hex"));
        return true;
      };
    case "json":
      if (from.type !== "json" || to.declaredType !== "jsonb") return undefined;
      return (b, s, e, out) => {
        const c = b[s];
        // A number alone goes the decoding path (its text as JavaScript prints it); {"$json": …} is a wrapper to open.
        if (c !== 0x7b && c !== 0x5b && c !== QUOTE && c !== 0x74 && c !== 0x66) return false;
        if (c === 0x7b) {
          const k = skipSpace(b, s + 1, e);
          if (scanWord(b, k, e, '"$json"') > 0) return false;
        }
        out.escaped(b, s, e);
        return true;
      };
    default:
      // The text conversion: a string passes as it is.
      if (!strings) return undefined;
      return (b, s, e, out) => b[s] === QUOTE && stringField(b, s, e, out);
  }
}

export interface TranscodeColumn {
  from: ExportColumn;
  to: ExportColumn;
  conversion: ColumnConversion;
  /** Its place in the exported line. */
  position: number;
}

/** Lines the transcoder could not write: the caller decodes them (with their errors and rejects) and writes them itself. */
export interface Transcoded {
  copy: Buffer;
  rows: number;
  /** Each line written the decoding way instead, as [its number in the chunk, its text]. */
  left: [number, string][];
  /** Values of the written lines that took the decoding path one by one (the rest were written from their tokens). */
  decoded: number;
}

/**
 * A table's transcoder: chunks of whole NDJSON lines (each ending in \n) → COPY text of the
 * written columns, in their order. `width` is the exported line's number of values.
 */
export function ndjsonToCopy(columns: readonly TranscodeColumn[], width: number, where: string): (chunk: Buffer) => Transcoded {
  const fast = columns.map((c) => fastWriter(c.from, c.to));
  // A value tagged {"$t":"text","v":"…"} (SQLite text in a column of another affinity, such as ISO
  // dates in DATETIME) decodes to its string, as a text column's value does: the text writer takes it.
  const fastTagged = columns.map((c) => (c.from.type === "json" ? undefined : fastWriter({ ...c.from, type: "text" }, c.to)));
  const tagged = new Uint8Array(width);
  let decoded = 0;
  const starts = new Int32Array(width);
  const ends = new Int32Array(width);
  const escapes = new Uint8Array(width);
  const ascii = new Uint8Array(width);
  const number = new Uint8Array(width);
  const integer = new Uint8Array(width);
  const digits = new Int32Array(width);

  /** The decoding path for one value: JSON.parse, decodeValue, the conversion, copyField. Throws when it does not convert. */
  const generic = (k: number, b: Buffer, s: number, e: number, out: Out) => {
    const c = columns[k]!;
    const value: DecodedValue = decodeValue(c.from.type, JSON.parse(b.toString("utf8", s, e)), where);
    const v: TargetValue = value === null ? null : c.conversion.convert(value);
    out.text(copyField(v));
  };

  const line = (b: Buffer, start: number, end: number, out: Out): boolean => {
    let i = skipSpace(b, start, end);
    if (b[i] !== 0x5b) return false;
    i = skipSpace(b, i + 1, end);
    for (let col = 0; col < width; col++) {
      if (col > 0) {
        if (b[i] !== 0x2c) return false;
        i = skipSpace(b, i + 1, end);
      }
      let s = i;
      i = scanValue(b, i, end, 0);
      if (i < 0) return false;
      // {"$t":"text","v":"…"}, written compactly as both exporters write it: its string stands for the value.
      const inner = s + TEXT_TAG.length;
      tagged[col] = 0;
      if (b[s] === 0x7b && b[i - 1] === 0x7d && inner < i - 1 && TEXT_TAG.compare(b, s, inner) === 0 && b[inner] === QUOTE && scanValue(b, inner, i - 1, 0) === i - 1) {
        tagged[col] = 1;
        s = inner;
      }
      starts[col] = s;
      ends[col] = tagged[col] ? i - 1 : i;
      // Flags of the token itself (a nested value of an object sets them too; a tagged string's are its own, scanned last).
      const c = b[s];
      const isString = c === QUOTE;
      const isNumber = c === MINUS || isDigit(c);
      escapes[col] = isString && token.escapes ? 1 : 0;
      ascii[col] = !isString || token.ascii ? 1 : 0;
      number[col] = isNumber ? 1 : 0;
      integer[col] = isNumber && token.integer ? 1 : 0;
      digits[col] = isNumber ? token.digits : 0;
      i = skipSpace(b, i, end);
    }
    if (b[i] !== 0x5d || skipSpace(b, i + 1, end) !== end) return false;
    for (let k = 0; k < columns.length; k++) {
      if (k) out.byte(0x09);
      const p = columns[k]!.position;
      const s = starts[p]!;
      const e = ends[p]!;
      if (b[s] === 0x6e) {
        out.byte(BACKSLASH);
        out.byte(0x4e); // null → \N
        continue;
      }
      token.escapes = escapes[p] === 1;
      token.ascii = ascii[p] === 1;
      token.number = number[p] === 1;
      token.integer = integer[p] === 1;
      token.digits = digits[p]!;
      if ((tagged[p] ? fastTagged[k] : fast[k])?.(b, s, e, out)) continue;
      try {
        decoded++;
        generic(k, b, tagged[p] ? s - TEXT_TAG.length : s, tagged[p] ? e + 1 : e, out);
      } catch {
        return false; // the line is decoded the usual way: its reject record, or its error
      }
    }
    out.byte(0x0a);
    return true;
  };

  return (chunk) => {
    const out = new Out(chunk.length + (chunk.length >> 2));
    const left: [number, string][] = [];
    decoded = 0;
    let rows = 0;
    let n = 0;
    for (let start = 0; start < chunk.length; n++) {
      let end = chunk.indexOf(0x0a, start);
      if (end < 0) end = chunk.length;
      const mark = out.at;
      const decodedBefore = decoded;
      if (line(chunk, start, end, out)) rows++;
      else {
        out.at = mark;
        decoded = decodedBefore;
        left.push([n, chunk.toString("utf8", start, end)]);
      }
      start = end + 1;
    }
    return { copy: out.buf.subarray(0, out.at), rows, left, decoded };
  };
}
