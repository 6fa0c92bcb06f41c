import { HoldfastError } from "../errors.js";
import type { NormalizedType } from "./format.js";

/**
 * Values as the NDJSON streams carry them (the table in format.ts, NORMALIZED_TYPES).
 *
 * Writing: a source hands each value as the engine gave it: PostgreSQL as its text form (string),
 * SQLite by storage class (bigint, number, string, Buffer). encodeValue turns it into JSON.
 * Reading: decodeValue gives bigint (integer), number (float), boolean, Buffer (bytes),
 * JsonDocument (json), string (everything else), or null.
 */
export type SourceValue = string | bigint | number | Buffer | null;
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type DecodedValue = null | bigint | number | string | boolean | Buffer | JsonDocument;

/** A json column's value (a class, so the document `null` differs from SQL NULL). */
export class JsonDocument {
  constructor(readonly value: unknown) {}
}

type StorageKind = "integer" | "float" | "text" | "bytes";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function integer(v: bigint): number | string {
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v.toString();
}

function float(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

/** ISO 8601 from PostgreSQL's text form in the UTC session zone ("2026-11-24 10:00:00.5+00"). */
function isoTimestamp(text: string, zoned: boolean): string {
  const m = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)(\+00)?$/.exec(text);
  if (!m) return text; // infinity, BC dates: kept as PostgreSQL wrote them
  return `${m[1]}T${m[2]}${zoned ? "Z" : ""}`;
}

function wrapJson(doc: unknown): JsonValue {
  const single = doc !== null && typeof doc === "object" && !Array.isArray(doc) && Object.keys(doc).length === 1 && "$json" in doc;
  return doc === null || single ? { $json: doc as JsonValue } : (doc as JsonValue);
}

function storageKind(v: SourceValue): StorageKind {
  if (typeof v === "bigint") return "integer";
  if (typeof v === "number") return "float";
  if (typeof v === "string") return "text";
  return "bytes";
}

function plain(kind: StorageKind, v: SourceValue): JsonValue {
  switch (kind) {
    case "integer":
      return integer(v as bigint);
    case "float":
      return float(v as number);
    case "text":
      return v as string;
    case "bytes":
      return (v as Buffer).toString("base64");
  }
}

/** Which storage classes a SQLite column of this type writes plainly (without {"$t", "v"}). */
function plainFor(type: NormalizedType, kind: StorageKind, v: SourceValue): boolean {
  switch (type) {
    case "integer":
    case "text":
    case "bytes":
      return kind === type;
    case "float":
      return kind === "float" && Number.isFinite(v as number);
    case "numeric":
      return kind === "integer" || (kind === "float" && Number.isFinite(v as number) && !Number.isInteger(v));
    case "any":
      return kind === "text" || kind === "integer" || (kind === "float" && Number.isFinite(v as number) && !Number.isInteger(v));
    default:
      return false;
  }
}

/** A SQLite value (by storage class) in a column of `type`. */
export function encodeSqliteValue(type: NormalizedType, v: SourceValue): JsonValue {
  if (v === null) return null;
  const kind = storageKind(v);
  const encoded = plain(kind, v);
  // A big integer is a string: plain only where the column says integer (else it would read as text).
  const ambiguous = kind === "integer" && typeof encoded === "string" && type !== "integer";
  if (plainFor(type, kind, v) && !ambiguous) return encoded;
  return { $t: kind, v: encoded };
}

/** A PostgreSQL value (its text form) in a column of `type`. */
export function encodePgValue(type: NormalizedType, text: string | null): JsonValue {
  if (text === null) return null;
  switch (type) {
    case "integer":
      // Up to 15 characters an integer is within Number's safe range: no BigInt needed.
      return text.length <= 15 ? Number(text) : integer(BigInt(text));
    case "float":
      return /^-?(Infinity|NaN)$/.test(text) ? text : Number(text);
    case "boolean":
      return text === "t";
    case "bytes":
      return Buffer.from(text.slice(2), "hex").toString("base64"); // bytea_output = hex: \x…
    case "timestamptz":
      return isoTimestamp(text, true);
    case "timestamp":
      return isoTimestamp(text, false);
    case "json":
      return wrapJson(JSON.parse(text));
    default:
      return text;
  }
}

function bad(where: string, what: string): HoldfastError {
  return new HoldfastError("CORRUPTED", `${where}: ${what}`, { hint: "the export is damaged or was not written by Holdfast" });
}

function decodeKind(kind: unknown, v: unknown, where: string): DecodedValue {
  switch (kind) {
    case "integer":
      if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
      if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
      throw bad(where, `not an integer: ${JSON.stringify(v)}`);
    case "float":
      if (typeof v === "number") return v;
      if (v === "NaN" || v === "Infinity" || v === "-Infinity") return Number(v);
      throw bad(where, `not a number: ${JSON.stringify(v)}`);
    case "text":
      if (typeof v === "string") return v;
      throw bad(where, `not a string: ${JSON.stringify(v)}`);
    case "bytes":
      if (typeof v === "string") return Buffer.from(v, "base64");
      throw bad(where, `not base64: ${JSON.stringify(v)}`);
    default:
      throw bad(where, `unknown value kind ${JSON.stringify(kind)}`);
  }
}

function isTagged(v: unknown): v is { $t: unknown; v: unknown } {
  return v !== null && typeof v === "object" && !Array.isArray(v) && "$t" in v && "v" in v && Object.keys(v).length === 2;
}

/** One value of a stream back into a JavaScript value (the inverse of the encoders). */
export function decodeValue(type: NormalizedType, v: unknown, where: string): DecodedValue {
  if (v === null) return null;
  if (type === "json") {
    const unwrapped = v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && "$json" in v ? (v as { $json: unknown }).$json : v;
    return new JsonDocument(unwrapped);
  }
  if (isTagged(v)) return decodeKind(v.$t, v.v, where);
  switch (type) {
    case "integer":
    case "float":
    case "bytes":
      return decodeKind(type, v, where);
    case "boolean":
      if (typeof v === "boolean") return v;
      throw bad(where, `not a boolean: ${JSON.stringify(v)}`);
    case "numeric":
    case "any":
      if (typeof v === "number") return Number.isInteger(v) ? BigInt(v) : v;
      if (type === "any" && typeof v === "string") return v;
      throw bad(where, `unexpected value ${JSON.stringify(v)}`);
    default:
      return decodeKind("text", v, where);
  }
}
