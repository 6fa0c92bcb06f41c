import { DOT, MINUS, PLUS, ZERO, digitsAt, isDigit } from "./byte-out.js";

/**
 * What the bytes of a JSON token say about its value, without making the value: the checks the
 * import's transcoder (ndjson-copy.ts) makes before it writes a token as its COPY field.
 */

/** A decimal's text: [+-]digits[.digits][(e|E)[+-]digits], with at least one digit before the exponent. */
export function isDecimalText(b: Buffer, s: number, e: number): boolean {
  let i = s;
  if (b[i] === PLUS || b[i] === MINUS) i++;
  const digitsFrom = i;
  while (i < e && isDigit(b[i])) i++;
  let digits = i - digitsFrom;
  if (b[i] === DOT) {
    const from = ++i;
    while (i < e && isDigit(b[i])) i++;
    digits += i - from;
  }
  if (digits === 0) return false;
  if (i < e && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (b[i] === PLUS || b[i] === MINUS) i++;
    const from = i;
    while (i < e && isDigit(b[i])) i++;
    if (i === from) return false;
  }
  return i === e;
}

/** The ISO pattern of pg-conversions.ts, on bytes: \d{4,}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d(:?\d\d)?)?( BC)?, case-insensitive. */
export function isIsoText(b: Buffer, s: number, e: number): boolean {
  let i = s;
  while (i < e && isDigit(b[i])) i++;
  if (i - s < 4 || b[i] !== MINUS || !digitsAt(b, i + 1, 2) || b[i + 3] !== MINUS || !digitsAt(b, i + 4, 2)) return false;
  i += 6;
  if (i < e && (b[i] === 0x20 || (b[i]! | 0x20) === 0x74) && digitsAt(b, i + 1, 2) && b[i + 3] === 0x3a && digitsAt(b, i + 4, 2)) {
    i += 6;
    if (i < e && b[i] === 0x3a && digitsAt(b, i + 1, 2)) {
      i += 3;
      if (i < e && b[i] === DOT && isDigit(b[i + 1])) {
        i++;
        while (i < e && isDigit(b[i])) i++;
      }
    }
  }
  if (i < e && (b[i]! | 0x20) === 0x7a) i++;
  else if (i < e && (b[i] === PLUS || b[i] === MINUS) && digitsAt(b, i + 1, 2)) {
    i += 3;
    if (i < e && b[i] === 0x3a && digitsAt(b, i + 1, 2)) i += 3;
    else if (digitsAt(b, i, 2) && i + 2 <= e) i += 2;
  }
  if (e - i === 3 && b[i] === 0x20 && (b[i + 1]! | 0x20) === 0x62 && (b[i + 2]! | 0x20) === 0x63) i += 3;
  return i === e;
}

/**
 * A plain decimal token (-?D+.D+, no exponent) that String() prints back as it is, told from its
 * bytes: at most 15 significant digits (any such decimal is the only one of that length that reads
 * as its double, so it is the shortest that does: the digits String() prints), no trailing zero in
 * the fraction, and at most 5 zeros after "0." (String() writes 1e-7 for 0.0000001). Such values,
 * amounts like 897.86, are most fractional numbers in exports; any other token is checked by
 * printing it (canonicalNumber).
 */
export function shortPlainDecimal(b: Buffer, s: number, e: number): boolean {
  let i = b[s] === MINUS ? s + 1 : s;
  const intStart = i;
  while (i < e && isDigit(b[i])) i++;
  const intDigits = i - intStart;
  if (intDigits === 0 || b[i] !== DOT) return false;
  const fracStart = ++i;
  while (i < e && isDigit(b[i])) i++;
  if (i !== e || i === fracStart || b[e - 1] === ZERO) return false;
  let significant = intDigits + (e - fracStart);
  if (intDigits === 1 && b[intStart] === ZERO) {
    let z = fracStart;
    while (b[z] === ZERO) z++;
    if (z - fracStart > 5) return false;
    significant = e - z;
  }
  return significant <= 15;
}

/** A number token whose text is what String() gives for its value (so copyField would write it back unchanged). */
export function canonicalNumber(b: Buffer, s: number, e: number): boolean {
  if (shortPlainDecimal(b, s, e)) return true;
  const text = b.toString("latin1", s, e);
  return String(Number(text)) === text;
}

/** An integer token short enough to be a safe integer (the caller checks its digits), read exactly. */
export function smallInteger(b: Buffer, s: number, e: number): number {
  let i = s;
  const negative = b[i] === MINUS;
  if (negative) i++;
  let n = 0;
  for (; i < e; i++) n = n * 10 + (b[i]! - ZERO);
  return negative ? -n : n;
}

/** The token -0 (its value decodes as 0). */
export function isMinusZero(b: Buffer, s: number, e: number): boolean {
  return e - s === 2 && b[s] === MINUS && b[s + 1] === ZERO;
}
