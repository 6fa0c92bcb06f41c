import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { HoldfastError } from "../errors.js";
import { wholeLineBytes } from "./lines.js";
import type { JsonValue } from "./values.js";

/** Lines are gathered into chunks of about this size before they go down the pipeline. */
const CHUNK_BYTES = 256 * 1024;

export interface RowTally {
  rows: number;
}

/** Batches of rows → NDJSON bytes (one JSON array per line), counted into `tally`, with back-pressure. */
export function ndjsonStream(batches: AsyncIterable<JsonValue[][]>, tally: RowTally): Readable {
  async function* lines(): AsyncIterable<Buffer> {
    let pending: string[] = [];
    let size = 0;
    for await (const rows of batches) {
      for (const row of rows) {
        const line = JSON.stringify(row) + "\n";
        pending.push(line);
        size += line.length;
      }
      tally.rows += rows.length;
      if (size >= CHUNK_BYTES) {
        yield Buffer.from(pending.join(""));
        pending = [];
        size = 0;
      }
    }
    if (pending.length) yield Buffer.from(pending.join(""));
  }
  return Readable.from(lines(), { objectMode: false });
}

export interface StreamExpectation {
  bytes: number;
  sha256: string;
  rows: number;
}

/** The lines of one chunk parsed in one call; per line when that fails, so a bad line is named. */
function parseLines(lines: string[], before: number, where: string): unknown[] {
  try {
    const values = JSON.parse(`[${lines.join(",")}]`) as unknown[];
    // A line holding "1,2" would parse as two values: the count tells, and the line-wise parse names it.
    if (values.length === lines.length) return values;
  } catch {
    // fall through: find the line
  }
  return lines.map((line, i) => {
    try {
      const value: unknown = JSON.parse(line);
      return value;
    } catch {
      throw new HoldfastError("CORRUPTED", `${where}: line ${before + i + 1} is not JSON`, { hint: "the export is damaged; take it again" });
    }
  });
}

/** Whole lines of an NDJSON stream: each line ends in its newline; `before` is the count of lines before them. */
export interface LineChunk {
  bytes: Buffer;
  rows: number;
  before: number;
}

/**
 * NDJSON bytes → chunks of whole lines, as bytes (a newline never occurs inside a UTF-8 character,
 * so a chunk always decodes alone). Once the stream ends, its size, SHA-256 and line count must
 * equal `expected`, else the iteration throws (TRUNCATED when bytes are missing, CORRUPTED
 * otherwise) — so a consumer must treat rows as unproven until it ends. A chunk is only valid until
 * the next one is asked for.
 */
export async function* ndjsonChunks(stream: AsyncIterable<Buffer>, expected: StreamExpectation, where: string): AsyncIterable<LineChunk> {
  const hash = createHash("sha256");
  let bytes = 0;
  let rows = 0;
  const truncated = () => (bytes < expected.bytes ? new HoldfastError("TRUNCATED", `${where} is truncated: ${bytes} of ${expected.bytes} bytes`, { hint: "the export is incomplete; copy it again or take a new one" }) : undefined);
  const onChunk = (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
    if (bytes > expected.bytes) throw new HoldfastError("CORRUPTED", `${where} is longer than its manifest records (${expected.bytes} bytes)`);
  };
  const endsInside = () => truncated() ?? new HoldfastError("CORRUPTED", `${where} ends inside a line`);
  for await (const run of wholeLineBytes(stream, { onChunk, endsInside })) {
    let n = 0;
    for (let i = run.indexOf(0x0a); i >= 0; i = run.indexOf(0x0a, i + 1)) n++;
    yield { bytes: run, rows: n, before: rows };
    rows += n;
  }
  const short = truncated();
  if (short) throw short;
  if (hash.digest("hex") !== expected.sha256) throw new HoldfastError("CORRUPTED", `${where} does not match the SHA-256 its manifest records`, { hint: "the export was altered or damaged; do not import it" });
  if (rows !== expected.rows) throw new HoldfastError("CORRUPTED", `${where} holds ${rows} rows, its manifest says ${expected.rows}`);
}

/** A chunk's lines parsed (JSON); a line that is not JSON throws CORRUPTED, naming it. */
export function parseChunk(chunk: LineChunk, where: string): unknown[] {
  return parseLines(chunk.bytes.toString("utf8", 0, chunk.bytes.length - 1).split("\n"), chunk.before, where);
}
