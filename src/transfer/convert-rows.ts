import { HoldfastError } from "../errors.js";
import type { ExportColumn } from "./format.js";
import { ndjsonToCopy } from "./ndjson-copy.js";
import type { LineChunk } from "./ndjson.js";
import type { ExportTableReader } from "./reader.js";
import { jsonOf, type RejectFile, type RejectLine } from "./rejects.js";
import { ConversionError, type ImportTarget, type StageBatch, type TargetValue } from "./target.js";
import type { DecodedValue } from "./values.js";

/** Values per column the target looks at to choose a conversion (and the only rows held in memory). */
export const SAMPLE_ROWS = 1000;

export interface PlannedConversion {
  column: string;
  description: string;
  before: unknown;
  after: unknown;
}

export interface ConvertedRows {
  conversions: PlannedConversion[];
  /**
   * The converted rows in batches, in `columns` order; rows that cannot convert go to the reject
   * file. For a target that takes COPY text (`copyText`), most batches are that text already.
   */
  rows: AsyncIterable<StageBatch>;
  rejected(): number;
}

export interface ConvertOptions {
  /** Written columns: the export's column and the target's, by name. */
  columns: { from: ExportColumn; to: ExportColumn }[];
  key: readonly string[];
  rejects: RejectFile;
  strict: boolean;
  signal?: AbortSignal;
  /** Rows read so far, every 1,000 rows (progress). */
  onRow?: (rows: number) => void;
}

class Reject {
  constructor(readonly record: RejectLine) {}
}

/**
 * One table's exported rows converted for the target: the first SAMPLE_ROWS rows are read ahead
 * so the target can choose each column's conversion from them (a DATETIME column of epoch
 * milliseconds, 0/1 booleans), then every row streams through.
 */
export async function convertRows(t: ExportTableReader, target: ImportTarget, options: ConvertOptions): Promise<ConvertedRows> {
  const at = new Map(t.table.columns.map((c, i) => [c.name, i]));
  const positions = options.columns.map((c) => at.get(c.from.name)!);
  const keyAt = options.key.map((k) => at.get(k)!);
  // Chunks of lines when the target takes COPY text: decoded only for the sample (and lines the transcoder leaves).
  const chunks = target.copyText && t.lineChunks ? t.lineChunks()[Symbol.asyncIterator]() : undefined;
  const batches = chunks ? undefined : t.batches()[Symbol.asyncIterator]();
  const ahead: DecodedValue[][] = [];
  /** The chunks read ahead for the sample, copied (a chunk is valid only until the next is read), to be transcoded like the rest. */
  const aheadChunks: LineChunk[] = [];
  let done = false;
  while (ahead.length < SAMPLE_ROWS) {
    const next = chunks ? await chunks.next() : await batches!.next();
    if (next.done) {
      done = true;
      break;
    }
    if (chunks) {
      const chunk = next.value as LineChunk;
      aheadChunks.push({ ...chunk, bytes: Buffer.from(chunk.bytes) });
      for (const row of t.decode(chunk)) ahead.push(row);
    } else for (const row of next.value as DecodedValue[][]) ahead.push(row);
  }
  const sample = ahead.slice(0, SAMPLE_ROWS);
  const conversions = options.columns.map((c, i) => target.conversion(c.from, c.to, sample.map((r) => r[positions[i]!]!)));
  const planned: PlannedConversion[] = [];
  conversions.forEach((conv, i) => {
    if (!conv.description) return;
    const first = sample.map((r) => r[positions[i]!]!).find((v) => v !== null);
    let after: unknown;
    try {
      after = first === undefined ? null : jsonOf(conv.convert(first) as DecodedValue);
    } catch (err) {
      after = `rejected: ${(err as Error).message}`;
    }
    planned.push({ column: options.columns[i]!.from.name, description: conv.description, before: jsonOf(first), after });
  });
  let rejected = 0;
  const table = t.table.name;
  async function* rows(): AsyncIterable<StageBatch> {
    /** One row converted, or the reject record of its first value that cannot convert. */
    const convert = (row: DecodedValue[]): TargetValue[] | Reject => {
      const out: TargetValue[] = new Array(positions.length);
      for (let i = 0; i < positions.length; i++) {
        const value = row[positions[i]!]!;
        try {
          out[i] = value === null ? null : conversions[i]!.convert(value);
        } catch (err) {
          if (!(err instanceof ConversionError)) throw err;
          const column = options.columns[i]!.to.name;
          const key = Object.fromEntries(options.key.map((k, j) => [k, jsonOf(row[keyAt[j]!])]));
          if (options.strict) {
            throw new HoldfastError("IMPORT_REJECTED", `${table}.${column} at ${JSON.stringify(key)}: ${err.message} (${options.columns[i]!.to.declaredType || "untyped"}); nothing was written`, { hint: "drop --strict to send such rows to the reject file" });
          }
          return new Reject({ table, key, column, reason: err.message, value: jsonOf(value) });
        }
      }
      return out;
    };
    const convertAll = async (batch: DecodedValue[][]): Promise<TargetValue[][]> => {
      const out: TargetValue[][] = [];
      const refused: Reject[] = [];
      for (const row of batch) {
        const converted = convert(row);
        if (converted instanceof Reject) refused.push(converted);
        else out.push(converted);
      }
      for (const r of refused) await options.rejects.write(r.record);
      rejected += refused.length;
      return out;
    };
    const transcode = ndjsonToCopy(options.columns.map((c, i) => ({ from: c.from, to: c.to, conversion: conversions[i]!, position: positions[i]! })), t.table.columns.length, table);
    /** A chunk as COPY text, and the lines the transcoder left decoded and converted like any other (their error, or their reject record). */
    const copyChunk = async (chunk: LineChunk): Promise<StageBatch[]> => {
      const out = transcode(chunk.bytes);
      const batch: StageBatch[] = [{ copyText: out.copy, rows: out.rows }];
      const left = out.left.flatMap(([n, line]) => t.decode({ bytes: Buffer.from(`${line}\n`), rows: 1, before: chunk.before + n }));
      if (left.length) batch.push(await convertAll(left));
      return batch;
    };
    let read = ahead.length;
    options.onRow?.(read);
    if (chunks) for (const chunk of aheadChunks.splice(0)) yield* await copyChunk(chunk);
    else yield await convertAll(ahead.splice(0));
    ahead.length = 0;
    while (!done) {
      if (options.signal?.aborted) throw new HoldfastError("INTERRUPTED", `import interrupted while staging ${table}; nothing was written`);
      const next = chunks ? await chunks.next() : await batches!.next();
      if (next.done) break;
      const before = read;
      if (chunks) {
        const chunk = next.value as LineChunk;
        read += chunk.rows;
        yield* await copyChunk(chunk);
      } else {
        read += (next.value as DecodedValue[][]).length;
        yield await convertAll(next.value as DecodedValue[][]);
      }
      if (Math.floor(read / SAMPLE_ROWS) > Math.floor(before / SAMPLE_ROWS)) options.onRow?.(read);
    }
  }
  return { conversions: planned, rows: rows(), rejected: () => rejected };
}
