import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { HoldfastError } from "../errors.js";
import { wholeLines } from "./lines.js";
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

/**
 * NDJSON bytes → parsed lines, a batch (the whole lines of one chunk) at a time. Once the stream
 * ends, its size, SHA-256 and line count must equal `expected`, else the iteration throws
 * (TRUNCATED when bytes are missing, CORRUPTED otherwise) — so a consumer must treat rows as
 * unproven until it ends.
 */
export async function* ndjsonBatches(stream: AsyncIterable<Buffer>, expected: StreamExpectation, where: string): AsyncIterable<unknown[]> {
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
  for await (const lines of wholeLines(stream, { onChunk, endsInside })) {
    const batch = parseLines(lines, rows, where);
    rows += batch.length;
    yield batch;
  }
  const short = truncated();
  if (short) throw short;
  if (hash.digest("hex") !== expected.sha256) throw new HoldfastError("CORRUPTED", `${where} does not match the SHA-256 its manifest records`, { hint: "the export was altered or damaged; do not import it" });
  if (rows !== expected.rows) throw new HoldfastError("CORRUPTED", `${where} holds ${rows} rows, its manifest says ${expected.rows}`);
}
