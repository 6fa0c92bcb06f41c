import { basename, resolve } from "node:path";
import type { Settings } from "../config/load.js";
import { HoldfastError } from "../errors.js";
import type { CommandContext } from "../commands/context.js";
import { isPlainPath } from "../engines/registry.js";
import { convertRows } from "./convert-rows.js";
import { selectTables } from "./filter.js";
import { openImportExport, openImportTarget } from "./import-open.js";
import { parseKeys, planInputs, type TablePlanInput } from "./import-schema.js";
import { checkPlanFingerprint, checkPlanInputs, exportIdentity, readPlan, tableCounts, writePlan, type ImportPlan, type PlanTable } from "./plan.js";
import { RejectFile } from "./rejects.js";
import { dependencyOrder } from "./source.js";
import type { ImportTarget, Strategy, TableResult } from "./target.js";

export interface ImportRequest {
  /** A portable export file or an export id in the repository. */
  export: string;
  /** --to: a SQLite path / sqlite:… / postgres URI. */
  to: string;
  settings: Settings;
  tables: string[];
  excludeTables: string[];
  /** --key 'table:col1,col2' */
  keys: string[];
  strategy: Strategy;
  dryRun: boolean;
  /** Write the plan here and change nothing. */
  planOut?: string;
  /** Apply this plan (refused when it no longer holds). */
  plan?: string;
  backupFirst: boolean;
  createSchema: boolean;
  strict: boolean;
  rejects?: string;
}

export interface ImportTableReport extends TableResult {
  name: string;
  rejected: number;
}

export interface ImportResult {
  plan: ImportPlan;
  /** False for --dry-run / --plan-out: nothing was written. */
  applied: boolean;
  tables: ImportTableReport[];
  durationMs: number;
  backupId?: string;
  undo?: string;
  rejectsFile?: string;
  planFile?: string;
}

/** Conflicting rows the plan shows per table. */
const CONFLICT_SAMPLES = 5;

function defaultRejects(target: ImportTarget): string {
  const name = target.engine === "sqlite" ? basename(target.uri.replace(/^sqlite:/, "")) : (/\/([^/?]+)(\?|$)/.exec(target.uri)?.[1] ?? "import");
  return resolve(`${name}.rejects.ndjson`);
}

async function backupTarget(req: ImportRequest, ctx: CommandContext): Promise<{ backupId: string; undo: string }> {
  const source = isPlainPath(req.to) ? `sqlite:${req.to}` : req.to;
  // Loaded only when asked for: the backup machinery (engines' snapshotters, storage) is memory an import does not need.
  const { backup } = await import("../commands/backup.js");
  const manifest = await backup({ source, settings: req.settings, kind: "full", labels: { reason: "import" } }, ctx);
  return { backupId: manifest.id, undo: `holdfast restore ${manifest.id} --to ${manifest.source.uri} --in-place` };
}

function firstConflict(tables: readonly PlanTable[]): HoldfastError | undefined {
  const t = tables.find((x) => x.conflict > 0);
  if (!t) return undefined;
  const key = t.conflicts[0] ? Object.entries(t.conflicts[0].key).map(([k, v]) => `${k}=${v}`).join(", ") : "?";
  return new HoldfastError("IMPORT_CONFLICT", `${t.name}: ${t.conflict} row(s) exist in the target with other values, the first at ${key}; nothing was written`, { hint: "choose --strategy skip, overwrite or merge, or see the plan with --dry-run" });
}

/**
 * Import: one export into one target, inside one transaction (target.ts describes the shape).
 * The plan is computed from staged rows before anything is written; --dry-run and --plan-out
 * stop there and roll back; otherwise every table is applied in dependency order, sequences are
 * moved past the imported ids, and the transaction commits (foreign keys checked) — or nothing.
 */
export async function importData(req: ImportRequest, ctx: CommandContext): Promise<ImportResult> {
  const started = Date.now();
  if (req.plan && req.planOut) throw new HoldfastError("USAGE", "--plan and --plan-out exclude each other");
  const savedPlan = req.plan ? await readPlan(req.plan) : undefined;
  const reader = await openImportExport(req.export, req.settings);
  let target: ImportTarget | undefined;
  let rejects: RejectFile | undefined;
  try {
    target = await openImportTarget(req.to, { create: req.createSchema });
    const names = selectTables(reader.manifest.tables.map((t) => t.name), { tables: req.tables, excludeTables: req.excludeTables, where: {} });
    const described = new Map(reader.schema.tables.map((t) => [t.name, t]));
    const selected = names.map((n) => described.get(n)!);
    const keys = parseKeys(req.keys);
    let inputs = planInputs(selected, await target.tables(), keys, req.createSchema, target.uri);
    const identity = exportIdentity(reader.manifest);
    if (savedPlan) checkPlanInputs(savedPlan, { export: identity, target: target.uri, strategy: req.strategy, tables: inputs.map((i) => ({ name: i.table.name, key: i.key })) });
    const applying = !req.dryRun && !req.planOut;
    const undo = req.backupFirst && applying ? await backupTarget(req, ctx) : undefined;

    await target.begin();
    // Another import may have created tables while this one waited for the target: plan against what is there now.
    inputs = planInputs(selected, await target.tables(), keys, req.createSchema, target.uri);
    const fingerprint = await target.fingerprint(names);
    if (savedPlan) checkPlanFingerprint(savedPlan, fingerprint);
    const missing = inputs.filter((i) => !i.exists).map((i) => i.table);
    if (missing.length) {
      await target.createTables(dependencyOrder(missing).map((t) => ({ ...t, columns: t.columns.filter((c) => !c.generated) })), reader.schema.engine);
      // Values convert to the columns as created (a SQLite DATETIME became timestamptz), not as exported.
      const created = await target.tables();
      inputs = planInputs(selected, created, keys, false, target.uri).map((i) => ({ ...i, exists: !missing.includes(i.table) }));
    }
    rejects = new RejectFile(req.rejects ? resolve(req.rejects) : defaultRejects(target));
    const byName = new Map<string, TablePlanInput>(inputs.map((i) => [i.table.name, i]));
    const planned: PlanTable[] = [];
    for await (const t of reader.tables()) {
      const input = byName.get(t.entry.name);
      if (!input) continue; // the reader reads it through and checks it
      const bar = ctx.progress(`import ${input.table.name} (${planned.length + 1}/${inputs.length})`, t.entry.rows, "rows");
      try {
        const columns = input.columns.map((c) => c.to.name);
        const converted = await convertRows(t, target, { columns: input.columns, key: input.key, rejects, strict: req.strict, signal: ctx.signal, onRow: (n) => bar.update(n) });
        // Applying: a table empty once locked is loaded straight (PostgreSQL); the tables after it are still to come.
        const pending = inputs.map((i) => i.table.name).filter((n) => n !== input.table.name && !planned.some((p) => p.name === n));
        const rows = await target.stage(input.table.name, columns, converted.rows, applying ? { pending } : undefined);
        const comparison = await target.compare(input.table.name, input.key, columns, CONFLICT_SAMPLES);
        planned.push({ name: input.table.name, key: input.key, columns, created: !input.exists, rows, ...tableCounts(comparison, req.strategy), rejected: converted.rejected(), conversions: converted.conversions, conflicts: comparison.samples });
      } finally {
        bar.stop();
      }
      ctx.log.info({ table: input.table.name }, "table staged");
    }
    const orphans = await target.orphans(names, req.strategy);
    const plan: ImportPlan = {
      formatVersion: 1,
      export: identity,
      target: target.uri,
      strategy: req.strategy,
      fingerprint,
      tables: planned,
      orphans,
      ...(rejects.written ? { rejectsFile: rejects.path } : {}),
      ...(undo ? { backupId: undo.backupId } : {}),
    };
    const outcome = { plan, durationMs: 0, ...(rejects.written ? { rejectsFile: rejects.path } : {}), ...(undo ?? {}) };
    if (!applying) {
      await target.rollback();
      if (req.planOut) await writePlan(resolve(req.planOut), plan);
      return { ...outcome, applied: false, tables: [], durationMs: Date.now() - started, ...(req.planOut ? { planFile: resolve(req.planOut) } : {}) };
    }
    if (req.strategy === "fail") {
      const conflict = firstConflict(planned);
      if (conflict) throw conflict;
    }
    const tables: ImportTableReport[] = [];
    for (const p of planned) {
      if (ctx.signal?.aborted) throw new HoldfastError("INTERRUPTED", `import into ${target.uri} interrupted before ${p.name}; nothing was written`);
      const result = await target.apply(p.name, p.key, p.columns, req.strategy);
      await target.advanceSequences(p.name);
      tables.push({ name: p.name, ...result, rejected: p.rejected });
    }
    await target.commit();
    ctx.log.info({ target: target.uri, tables: tables.length }, "import committed");
    return { ...outcome, applied: true, tables, durationMs: Date.now() - started };
  } finally {
    await rejects?.close();
    await target?.close();
    await reader.close();
  }
}
