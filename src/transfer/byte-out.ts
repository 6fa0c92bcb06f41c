/** Bytes the transcoders (ndjson-copy.ts, copy-ndjson.ts) look for. */
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const MINUS = 0x2d;
export const PLUS = 0x2b;
export const DOT = 0x2e;
export const ZERO = 0x30;

export const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;

/** n ASCII digits from i. */
export function digitsAt(b: Buffer, i: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (!isDigit(b[i + k])) return false;
  return true;
}

/** Bytes written into a buffer that grows as needed: what the transcoders (ndjson-copy.ts, copy-ndjson.ts) write into. */
export class ByteOut {
  buf: Buffer;
  at = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(size, 1024));
  }
  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  byte(c: number): void {
    this.room(1);
    this.buf[this.at++] = c;
  }
  bytes(b: Buffer, s: number, e: number): void {
    this.room(e - s);
    if (e - s > 64) {
      this.at += b.copy(this.buf, this.at, s, e);
      return;
    }
    // Most fields are short: a loop costs less than copy()'s own checks.
    const o = this.buf;
    let at = this.at;
    for (let i = s; i < e; i++) o[at++] = b[i]!;
    this.at = at;
  }
  text(s: string): void {
    this.room(Buffer.byteLength(s));
    this.at += this.buf.write(s, this.at);
  }
  /** What was written, and a fresh start (the buffer is handed over: the next writes go to a new one). */
  take(next: number): Buffer {
    const out = this.buf.subarray(0, this.at);
    this.buf = Buffer.allocUnsafe(Math.max(next, 1024));
    this.at = 0;
    return out;
  }
}
