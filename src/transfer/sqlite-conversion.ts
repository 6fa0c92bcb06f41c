import type { ExportColumn, NormalizedType } from "./format.js";
import { ConversionError, type ColumnConversion, type TargetValue } from "./target.js";
import { JsonDocument, type DecodedValue } from "./values.js";

/**
 * Values of an exported column into a SQLite column (its affinity: sqliteType of its declared type).
 *
 * A column of the same type (a SQLite → SQLite import) takes every value as it is, storage class
 * included, as SQLite itself would. Otherwise each value becomes the column's type or is rejected:
 * booleans → 0/1, JSON → its text, timestamps/dates/decimals/UUIDs → their ISO or exact text,
 * text of digits → an integer, an integer → text, … A value that would change meaning (text
 * "abc" into an INTEGER column, "12.5" into an INTEGER column, bytes into a TEXT column) throws
 * ConversionError. NUMERIC and untyped columns take any value.
 */
export function sqliteConversion(from: ExportColumn, to: ExportColumn): ColumnConversion {
  const target = to.type;
  if (from.type === target || target === "any" || target === "numeric") {
    const changes = from.type !== target && (from.type === "boolean" || from.type === "json");
    return {
      ...(changes ? { description: `${from.type} → ${from.type === "boolean" ? "0/1" : "JSON text"} in ${to.declaredType || "untyped"}` } : {}),
      convert: (v) => plain(v),
    };
  }
  return {
    description: `${from.declaredType || from.type} (${from.type}) → ${to.declaredType} (${describe(target)})`,
    convert: (v) => strict(v, target),
  };
}

function describe(type: NormalizedType): string {
  return type === "integer" ? "integer" : type === "float" ? "real" : type === "bytes" ? "blob" : "text";
}

/** SQLite stores a NaN as NULL: refused rather than silently lost. */
function number(v: number): number {
  if (Number.isNaN(v)) throw new ConversionError("NaN cannot be stored in SQLite (it would read back as NULL)");
  return v;
}

/** What a value binds as when the column takes it as it is. */
function plain(v: DecodedValue): TargetValue {
  if (typeof v === "number") return number(v);
  if (typeof v === "boolean") return v ? 1n : 0n;
  if (v instanceof JsonDocument) return JSON.stringify(v.value);
  return v;
}

function shown(v: DecodedValue): string {
  const text = v instanceof JsonDocument ? JSON.stringify(v.value) : Buffer.isBuffer(v) ? `${v.length} bytes` : String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function reject(v: DecodedValue, what: string): never {
  throw new ConversionError(`${shown(v)} is not ${what}`);
}

function strict(v: DecodedValue, type: NormalizedType): TargetValue {
  if (v === null) return null;
  switch (type) {
    case "integer": {
      if (typeof v === "bigint") return v;
      if (typeof v === "boolean") return v ? 1n : 0n;
      if (typeof v === "number") return Number.isInteger(v) ? BigInt(v) : reject(v, "an integer");
      if (typeof v === "string") {
        const m = /^\s*(-?\d+)(?:\.0*)?\s*$/.exec(v);
        return m ? BigInt(m[1]!) : reject(v, "an integer");
      }
      return reject(v, "an integer");
    }
    case "float": {
      if (typeof v === "number") return number(v);
      if (typeof v === "bigint") return Number(v);
      if (typeof v === "string" && /^\s*-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(v)) return Number(v);
      if (typeof v === "string" && /^-?Infinity$|^NaN$/.test(v)) return number(Number(v));
      return reject(v, "a number");
    }
    case "bytes":
      return Buffer.isBuffer(v) ? v : reject(v, "bytes");
    default: {
      // text
      if (Buffer.isBuffer(v)) return reject(v, "text");
      if (typeof v === "boolean") return v ? "true" : "false";
      if (v instanceof JsonDocument) return JSON.stringify(v.value);
      return String(v);
    }
  }
}
