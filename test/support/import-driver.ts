import { openExportFile } from "../../dist/transfer/reader.js";
import type { ImportTarget, Orphans, Strategy, TableComparison, TableResult, TargetValue } from "../../dist/transfer/target.js";
import type { DecodedValue } from "../../dist/transfer/values.js";

/**
 * Drives an ImportTarget through the call sequence target.ts documents (begin, createTables,
 * conversion + stage + compare per table, orphans, then rollback or apply + advanceSequences and
 * commit), reading a real export file. A failure rolls back and is rethrown.
 */
export interface DriveOptions {
  strategy: Strategy;
  createSchema?: boolean;
  dryRun?: boolean;
  sampleLimit?: number;
}

export interface DriveResult {
  conversions: Record<string, Record<string, string | undefined>>;
  comparisons: Record<string, TableComparison>;
  orphans: Orphans[];
  results: Record<string, TableResult>;
  staged: Record<string, number>;
}

const SAMPLE = 1000;

async function* withSample<T>(first: T[], rest: AsyncIterator<T>): AsyncIterable<T> {
  yield* first;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

export async function driveImport(target: ImportTarget, file: string, options: DriveOptions): Promise<DriveResult> {
  const reader = await openExportFile(file);
  const out: DriveResult = { conversions: {}, comparisons: {}, orphans: [], results: {}, staged: {} };
  const order: { name: string; key: string[]; columns: string[] }[] = [];
  try {
    await target.begin();
    if (options.createSchema) {
      const have = new Set((await target.tables()).map((t) => t.name));
      await target.createTables(reader.schema.tables.filter((t) => !have.has(t.name)), reader.schema.engine);
    }
    const tables = new Map((await target.tables()).map((t) => [t.name, t]));
    for await (const t of reader.tables()) {
      const to = tables.get(t.table.name);
      if (!to) throw new Error(`target lacks ${t.table.name}`);
      const indexes = t.table.columns.map((c, i) => [c, i] as const).filter(([c]) => to.columns.some((x) => x.name === c.name));
      const columns = indexes.map(([c]) => c.name);
      const iterator = t.rows()[Symbol.asyncIterator]();
      const first: DecodedValue[][] = [];
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
        first.push(r.value);
        if (first.length >= SAMPLE) break;
      }
      const conversions = indexes.map(([c, i]) =>
        target.conversion(c, to.columns.find((x) => x.name === c.name)!, first.map((row) => row[i]!)),
      );
      out.conversions[t.table.name] = Object.fromEntries(indexes.map(([c], j) => [c.name, conversions[j]!.description]));
      // Batches of one row: staging takes batches, and a batch of any size must do.
      const converted = async function* (): AsyncIterable<TargetValue[][]> {
        for await (const row of withSample(first, iterator)) yield [indexes.map(([, i], j) => conversions[j]!.convert(row[i]!))];
      };
      // The primary key when the export carries it, else the first unique key it carries.
      const key = [to.primaryKey ?? [], ...to.uniqueKeys.map((u) => u.columns)].find((k) => k.length > 0 && k.every((c) => columns.includes(c)))!;
      out.staged[t.table.name] = await target.stage(t.table.name, columns, converted());
      out.comparisons[t.table.name] = await target.compare(t.table.name, key, columns, options.sampleLimit ?? 5);
      order.push({ name: t.table.name, key, columns });
    }
    out.orphans = await target.orphans(order.map((t) => t.name), options.strategy);
    if (options.dryRun) {
      await target.rollback();
      return out;
    }
    for (const t of order) {
      out.results[t.name] = await target.apply(t.name, t.key, t.columns, options.strategy);
      await target.advanceSequences(t.name);
    }
    await target.commit();
    return out;
  } catch (err) {
    await target.rollback().catch(() => undefined);
    throw err;
  } finally {
    await reader.close();
  }
}
