import { expect } from "vitest";
import type { ExportSource } from "../../src/transfer/source.js";

/**
 * An export source's two ways of writing a table: the JavaScript encoder (rows(), values.ts) and
 * the lines the source writes itself (ndjson()), for tests that hold one against the other.
 */
type Source = Pick<ExportSource, "tables" | "rows" | "ndjson">;

/** The table's rows as the JavaScript encoder gives them, as JSON would read them back. */
export async function encoderValues(source: Source, name: string, where?: string): Promise<unknown[]> {
  const table = source.tables.find((t) => t.name === name)!;
  const rows: unknown[] = [];
  for await (const batch of source.rows(table, where)) for (const row of batch) rows.push(JSON.parse(JSON.stringify(row)));
  return rows;
}

/** The lines the source writes itself (undefined when it leaves the table to the encoder), and the rows it counted. */
export async function sourceLines(source: Source, name: string, where?: string): Promise<{ lines: string[]; rows: number } | undefined> {
  const table = source.tables.find((t) => t.name === name)!;
  const tally = { rows: 0 };
  const stream = source.ndjson!(table, where, tally);
  if (!stream) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString("utf8");
  expect(text.endsWith("\n")).toBe(true);
  return { lines: text.slice(0, -1).split("\n"), rows: tally.rows };
}
