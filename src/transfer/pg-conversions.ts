import type { ExportColumn } from "./format.js";
import { ConversionError, type ColumnConversion, type TargetValue } from "./target.js";
import { JsonDocument, type DecodedValue } from "./values.js";

/**
 * How an exported value becomes a PostgreSQL column's value (docs/export-import.md, "Importing into
 * PostgreSQL"). Values are handed to COPY in their text forms; the column's own type parses them,
 * so PostgreSQL → PostgreSQL values pass as they were exported. What changes form is what SQLite
 * stores loosely: declared BOOLEAN columns (0/1, 'true'/'false'), DATETIME columns (ISO text,
 * epoch seconds or epoch milliseconds: detected from the sample and stated in `description`).
 */

/** Epoch values at or above this magnitude are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973). */
export const MILLISECONDS_FROM = 1e11;

const RANGES: Record<string, [bigint, bigint]> = {
  smallint: [-32768n, 32767n],
  integer: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
};

/** A date/time in ISO 8601 form, or PostgreSQL's (a BC date as PostgreSQL prints it: "0044-03-15 12:00:00+00 BC"): passed as it is. */
export const ISO = /^\d{4,}-\d\d-\d\d(?:[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?(?:Z|[+-]\d\d(?::?\d\d)?)?(?: BC)?$/i;
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$|^NaN$/i;
const TRUE = new Set(["1", "t", "true", "y", "yes", "on"]);
const FALSE = new Set(["0", "f", "false", "n", "no", "off"]);

function describe(v: DecodedValue): string {
  if (v instanceof JsonDocument) return "a JSON document";
  if (Buffer.isBuffer(v)) return `${v.length} bytes`;
  const text = typeof v === "string" ? JSON.stringify(v) : String(v);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function fail(v: DecodedValue, what: string): never {
  throw new ConversionError(`${describe(v)} is not ${what}`);
}

function text(v: DecodedValue): string {
  if (typeof v === "string") return v;
  if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean") return String(v);
  if (v instanceof JsonDocument) return JSON.stringify(v.value);
  const s = v!.toString("utf8");
  if (!Buffer.from(s, "utf8").equals(v!)) fail(v, "UTF-8 text");
  return s;
}

function integer(v: DecodedValue, declared: string): bigint {
  let n: bigint;
  if (typeof v === "bigint") n = v;
  else if (typeof v === "number" && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === "boolean") n = v ? 1n : 0n;
  else if (typeof v === "string" && /^\s*[+-]?\d+\s*$/.test(v)) n = BigInt(v.trim());
  else fail(v, "an integer");
  const range = RANGES[declared];
  if (range && (n < range[0] || n > range[1])) fail(v, `within ${declared}'s range`);
  return n;
}

function boolean(v: DecodedValue): boolean {
  if (typeof v === "boolean") return v;
  if (typeof v === "bigint" || typeof v === "number") {
    if (Number(v) === 0) return false;
    if (Number(v) === 1) return true;
  }
  if (typeof v === "string") {
    const t = v.trim().toLowerCase();
    if (TRUE.has(t)) return true;
    if (FALSE.has(t)) return false;
  }
  return fail(v, "a boolean (0/1, true/false)");
}

type TimeForm = "ISO 8601 text" | "epoch seconds" | "epoch milliseconds";

/** A string read as an epoch number by the date and time conversions. */
export const EPOCH_TEXT = /^\s*-?\d+(\.\d+)?\s*$/;

function numeric(v: DecodedValue): number | undefined {
  if (typeof v === "bigint" || typeof v === "number") return Number(v);
  if (typeof v === "string" && EPOCH_TEXT.test(v)) return Number(v);
  return undefined;
}

function timeForm(v: DecodedValue): TimeForm | undefined {
  if (v === null) return undefined;
  const n = numeric(v);
  if (n !== undefined) return Math.abs(n) >= MILLISECONDS_FROM ? "epoch milliseconds" : "epoch seconds";
  return "ISO 8601 text";
}

function timestamp(v: DecodedValue, zoned: boolean): string {
  const n = numeric(v);
  if (n !== undefined) {
    const date = new Date(Math.abs(n) >= MILLISECONDS_FROM ? n : n * 1000);
    if (Number.isNaN(date.getTime())) fail(v, "a date/time");
    return zoned ? date.toISOString() : date.toISOString().slice(0, -1);
  }
  if (typeof v === "string" && (ISO.test(v.trim()) || /^-?infinity$/i.test(v.trim()))) return v.trim();
  return fail(v, "a date/time (ISO 8601, epoch seconds or milliseconds)");
}

function decimal(v: DecodedValue): string {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return Number.isFinite(v) || Number.isNaN(v) ? String(v) : fail(v, "a finite decimal");
  if (typeof v === "string" && DECIMAL.test(v.trim())) return v.trim();
  return fail(v, "a decimal number");
}

function float(v: DecodedValue): number | string {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "string" && (DECIMAL.test(v.trim()) || /^[+-]?Infinity$/i.test(v.trim()))) return v.trim();
  return fail(v, "a number");
}

function bytes(v: DecodedValue): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === "string") return Buffer.from(v, "utf8");
  return fail(v, "bytes");
}

function json(v: DecodedValue): string {
  if (v instanceof JsonDocument) return JSON.stringify(v.value);
  if (typeof v === "string") {
    try {
      JSON.parse(v);
    } catch {
      fail(v, "JSON");
    }
    return v;
  }
  if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean") return String(v);
  return fail(v, "JSON");
}

/** The mixed forms a DATETIME sample holds, for the plan: "epoch milliseconds", "ISO 8601 text, epoch seconds". */
function timeDescription(from: ExportColumn, to: ExportColumn, sample: readonly DecodedValue[]): string | undefined {
  if (from.type === "timestamptz" || from.type === "timestamp") return undefined;
  const forms = [...new Set(sample.map(timeForm).filter((f): f is TimeForm => f !== undefined))].sort();
  const label = from.declaredType || from.type;
  return `${label} (${forms.length ? forms.join(", ") : "no values"}) → ${to.declaredType}`;
}

export function pgConversion(from: ExportColumn, to: ExportColumn, sample: readonly DecodedValue[]): ColumnConversion {
  const declared = to.declaredType;
  const nullable = (f: (v: Exclude<DecodedValue, null>) => TargetValue) => (v: DecodedValue) => (v === null ? null : f(v));
  const changes = (what: string) => (from.type === to.type ? undefined : `${from.declaredType || from.type} (${what}) → ${declared}`);
  switch (to.type) {
    case "boolean": {
      const d = changes("0/1, true/false");
      return { ...(d ? { description: d } : {}), convert: nullable(boolean) };
    }
    case "timestamptz":
    case "timestamp": {
      const d = timeDescription(from, to, sample);
      const zoned = to.type === "timestamptz";
      return { ...(d ? { description: d } : {}), convert: nullable((v) => timestamp(v, zoned)) };
    }
    case "date": {
      // Epoch numbers become their UTC day; text passes (PostgreSQL parses ISO and its own forms).
      const day = (v: Exclude<DecodedValue, null>) => (numeric(v) === undefined ? text(v) : timestamp(v, true).slice(0, 10));
      return { convert: nullable(day) };
    }
    case "integer":
      return { convert: nullable((v) => integer(v, declared)) };
    case "float":
      return { convert: nullable(float) };
    case "decimal":
      return { convert: nullable(decimal) };
    case "bytes":
      return { convert: nullable(bytes) };
    case "json":
      return { convert: nullable(json) };
    default:
      return { convert: nullable(text) };
  }
}
