import type { CommandContext } from "../commands/context.js";
import { convertRows } from "./convert-rows.js";
import type { TablePlanInput } from "./import-schema.js";
import type { PlanTable } from "./plan.js";
import type { ExportReader } from "./reader.js";
import type { RejectFile } from "./rejects.js";
import type { ImportTarget } from "./target.js";

/** One table's rows in the target's staging (or loaded), with what the plan says of their conversion. */
export interface StagedRows {
  input: TablePlanInput;
  columns: string[];
  rows: number;
  conversions: PlanTable["conversions"];
  rejected: number;
}

export interface StageOptions {
  reader: ExportReader;
  target: ImportTarget;
  rejects: RejectFile;
  strict: boolean;
  /** The import will write (not --dry-run, not --plan-out): the target may load an empty table directly. */
  applying: boolean;
}

/**
 * The export's tables that are in `inputs`, in the export's (dependency) order, each converted and
 * staged — or, applying into a table a PostgreSQL target finds empty once locked, loaded straight
 * into it. Other tables are read through (the reader checks every stream). One table at a time,
 * with a progress bar; memory stays flat.
 */
export async function* stageTables(o: StageOptions, inputs: readonly TablePlanInput[], ctx: CommandContext): AsyncIterable<StagedRows> {
  const byName = new Map(inputs.map((i) => [i.table.name, i]));
  const done: string[] = [];
  for await (const t of o.reader.tables()) {
    const input = byName.get(t.entry.name);
    if (!input) continue;
    const name = input.table.name;
    const bar = ctx.progress(`import ${name} (${done.length + 1}/${byName.size})`, t.entry.rows, "rows");
    let staged: StagedRows;
    try {
      const columns = input.columns.map((c) => c.to.name);
      const converted = await convertRows(t, o.target, { columns: input.columns, key: input.key, rejects: o.rejects, strict: o.strict, signal: ctx.signal, onRow: (n) => bar.update(n) });
      // A row may reference the tables still to come only through a deferred foreign key: they are not loaded yet.
      const pending = [...byName.keys()].filter((n) => n !== name && !done.includes(n));
      const rows = await o.target.stage(name, columns, converted.rows, o.applying ? { pending } : undefined);
      staged = { input, columns, rows, conversions: converted.conversions, rejected: converted.rejected() };
    } finally {
      bar.stop();
    }
    done.push(name);
    ctx.log.info({ table: name }, "table staged");
    yield staged;
  }
}

/** The tables, keys and columns an import plans with, as text: staged before the lock, they must still hold under it. */
export function inputsShape(inputs: readonly TablePlanInput[]): string {
  return JSON.stringify(inputs.map((i) => [i.table.name, i.key, i.exists, i.columns.map((c) => [c.from.name, c.to])]));
}
