import { HoldfastError } from "../errors.js";
import type { ExportColumn } from "./format.js";
import type { ExportTableReader } from "./reader.js";
import { jsonOf, type RejectFile, type RejectLine } from "./rejects.js";
import { ConversionError, type ImportTarget, type TargetValue } from "./target.js";
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
  /** The converted rows in batches, in `columns` order; rows that cannot convert go to the reject file. */
  rows: AsyncIterable<TargetValue[][]>;
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
  const iterator = t.batches()[Symbol.asyncIterator]();
  const ahead: DecodedValue[][] = [];
  let done = false;
  while (ahead.length < SAMPLE_ROWS) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    for (const row of next.value) ahead.push(row);
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
  async function* rows(): AsyncIterable<TargetValue[][]> {
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
    let read = ahead.length;
    options.onRow?.(read);
    yield await convertAll(ahead.splice(0));
    while (!done) {
      if (options.signal?.aborted) throw new HoldfastError("INTERRUPTED", `import interrupted while staging ${table}; nothing was written`);
      const next = await iterator.next();
      if (next.done) break;
      const before = read;
      read += next.value.length;
      if (Math.floor(read / SAMPLE_ROWS) > Math.floor(before / SAMPLE_ROWS)) options.onRow?.(read);
      yield await convertAll(next.value);
    }
  }
  return { conversions: planned, rows: rows(), rejected: () => rejected };
}
