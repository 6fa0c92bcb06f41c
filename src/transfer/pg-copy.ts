import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import copyStreams from "pg-copy-streams";
import { CopyOut } from "./pg-copy-out.js";
import type { StageBatch, TargetValue } from "./target.js";

/** A character COPY's text format escapes. */
const SPECIAL = /[\\\n\r\t]/;

/**
 * PostgreSQL's COPY text format (https://www.postgresql.org/docs/current/sql-copy.html): one line a
 * row, columns separated by a tab, SQL NULL as \N, and a backslash, newline, carriage return or tab
 * inside a value escaped (\\, \n, \r, \t) — so the empty string and NULL stay apart. bytea goes as
 * its hex input form (\x…), whose own backslash is escaped too.
 */
export function copyField(v: TargetValue): string {
  if (v === null) return "\\N";
  if (typeof v === "boolean") return v ? "t" : "f";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : v === Infinity ? "Infinity" : v === -Infinity ? "-Infinity" : String(v);
  if (Buffer.isBuffer(v)) return `\\\\x${v.toString("hex")}`;
  return !SPECIAL.test(v) ? v : v.replace(/[\\\n\r\t]/g, (c) => (c === "\\" ? "\\\\" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\t"));
}

/** Lines are gathered into chunks of about this many characters before they are written. */
const CHUNK = 64 * 1024;

async function* copyText(batches: AsyncIterable<StageBatch>, counter: { rows: number }): AsyncIterable<string | Buffer> {
  let chunk = "";
  for await (const rows of batches) {
    if (!Array.isArray(rows)) {
      if (chunk) yield chunk;
      chunk = "";
      counter.rows += rows.rows;
      if (rows.copyText.length) yield rows.copyText;
      await new Promise(setImmediate); // lets the socket take what it can before more work runs
      continue;
    }
    for (const row of rows) {
      let line = "";
      for (let i = 0; i < row.length; i++) line += i ? `\t${copyField(row[i]!)}` : copyField(row[i]!);
      chunk += `${line}\n`;
    }
    counter.rows += rows.length;
    if (chunk.length >= CHUNK) {
      yield chunk;
      chunk = "";
    }
  }
  if (chunk) yield chunk;
}

/** Streams batches of rows into `COPY <into> FROM STDIN` with back-pressure (memory stays flat). Returns the rows copied. */
export async function copyRows(client: pg.Client, into: string, rows: AsyncIterable<StageBatch>): Promise<number> {
  const counter = { rows: 0 };
  const sink = client.query(copyStreams.from(`COPY ${into} FROM STDIN`));
  await pipeline(Readable.from(copyText(rows, counter)), sink);
  return counter.rows;
}

/** Streams `COPY (<select>) TO STDOUT` through a SHA-256 (memory stays flat). */
export async function hashCopyOut(client: pg.Client, select: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of client.query(new CopyOut(`COPY (${select}) TO STDOUT`))) hash.update(chunk);
}
