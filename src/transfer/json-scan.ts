import { BACKSLASH, DOT, MINUS, PLUS, QUOTE, ZERO, isDigit } from "./byte-out.js";

/**
 * A validating scanner of JSON values in a line of bytes: where each value ends, checked as
 * JSON.parse would check it, without building it. The transcoders (ndjson-copy.ts, copy-ndjson.ts)
 * use it to find and classify tokens.
 */

const isHex = (c: number | undefined) => c !== undefined && ((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66));

/** What the last scanned token was (a nested value of an array or object sets it too). */
export const token = { escapes: false, ascii: true, number: false, integer: false, digits: 0 };

/** JSON whitespace within a line (a newline ends the line). */
export function skipSpace(b: Buffer, i: number, end: number): number {
  while (i < end && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0d)) i++;
  return i;
}

function scanString(b: Buffer, i: number, end: number): number {
  token.escapes = false;
  token.ascii = true;
  for (i++; i < end; ) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      token.escapes = true;
      const e = b[i + 1];
      if (e === 0x75) {
        if (!(isHex(b[i + 2]) && isHex(b[i + 3]) && isHex(b[i + 4]) && isHex(b[i + 5]))) return -1;
        i += 6;
      } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) i += 2;
      else return -1;
      continue;
    }
    if (c >= 0x80) token.ascii = false;
    i++;
  }
  return -1;
}

/** A JSON number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?; its end, or -1. Sets token.integer and token.digits. */
export function scanNumber(b: Buffer, i: number, end: number): number {
  const start = i;
  if (b[i] === MINUS) i++;
  if (b[i] === ZERO) i++;
  else if (isDigit(b[i])) while (i < end && isDigit(b[i])) i++;
  else return -1;
  token.integer = true;
  token.digits = i - start - (b[start] === MINUS ? 1 : 0);
  if (b[i] === DOT) {
    token.integer = false;
    if (!isDigit(b[++i])) return -1;
    while (i < end && isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    token.integer = false;
    i++;
    if (b[i] === PLUS || b[i] === MINUS) i++;
    if (!isDigit(b[i])) return -1;
    while (i < end && isDigit(b[i])) i++;
  }
  return i <= end ? i : -1;
}

export function scanWord(b: Buffer, i: number, end: number, word: string): number {
  if (i + word.length > end) return -1;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

/** The end of the JSON value at i (validated as JSON.parse would), or -1. */
export function scanValue(b: Buffer, i: number, end: number, depth: number): number {
  const c = b[i];
  if (c === QUOTE) return scanString(b, i, end);
  if (c === 0x7b || c === 0x5b) {
    if (depth > 200) return -1; // left to JSON.parse
    const close = c === 0x7b ? 0x7d : 0x5d;
    i = skipSpace(b, i + 1, end);
    if (b[i] === close) return i + 1;
    for (;;) {
      if (close === 0x7d) {
        if (b[i] !== QUOTE) return -1;
        i = scanString(b, i, end);
        if (i < 0) return -1;
        i = skipSpace(b, i, end);
        if (b[i] !== 0x3a) return -1;
        i = skipSpace(b, i + 1, end);
      }
      i = scanValue(b, i, end, depth + 1);
      if (i < 0) return -1;
      i = skipSpace(b, i, end);
      if (b[i] === close) return i + 1;
      if (b[i] !== 0x2c) return -1;
      i = skipSpace(b, i + 1, end);
    }
  }
  if (c === 0x74) return scanWord(b, i, end, "true");
  if (c === 0x66) return scanWord(b, i, end, "false");
  if (c === 0x6e) return scanWord(b, i, end, "null");
  return scanNumber(b, i, end);
}
