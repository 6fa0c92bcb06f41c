import { basename, resolve } from "node:path";
import type { Settings } from "../config/load.js";
import { HoldfastError } from "../errors.js";
import type { CommandContext } from "../commands/context.js";
import { isPlainPath } from "../engines/registry.js";
import { selectTables } from "./filter.js";
import { openImportExport, openImportTarget } from "./import-open.js";
import { inputsShape, stageTables, type StagedRows } from "./import-stage.js";
import { parseKeys, planInputs } from "./import-schema.js";
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
 * The plan is computed from staged rows under the target's lock, before anything is written
 * (SQLite stages before it takes the lock; PostgreSQL after, and may load an empty table directly
 * when applying); --dry-run and --plan-out stop there and roll back; otherwise every table is
 * applied in dependency order, sequences are moved past the imported ids, and the transaction
 * commits (foreign keys checked) — or nothing.
 */
export async function importData(req: ImportRequest, ctx: CommandContext): Promise<ImportResult> {
  const started = Date.now();
  if (req.plan && req.planOut) throw new HoldfastError("USAGE", "--plan and --plan-out exclude each other");
  const savedPlan = req.plan ? await readPlan(req.plan) : undefined;
  const reader = await openImportExport(req.export, req.settings);
  let target: ImportTarget | undefined;
  let rejects: RejectFile | undefined;
  try {
    const to = await openImportTarget(req.to, { create: req.createSchema });
    target = to;
    const names = selectTables(reader.manifest.tables.map((t) => t.name), { tables: req.tables, excludeTables: req.excludeTables, where: {} });
    const described = new Map(reader.schema.tables.map((t) => [t.name, t]));
    const selected = names.map((n) => described.get(n)!);
    const keys = parseKeys(req.keys);
    let inputs = planInputs(selected, await target.tables(), keys, req.createSchema, target.uri);
    const identity = exportIdentity(reader.manifest);
    if (savedPlan) checkPlanInputs(savedPlan, { export: identity, target: target.uri, strategy: req.strategy, tables: inputs.map((i) => ({ name: i.table.name, key: i.key })) });
    const applying = !req.dryRun && !req.planOut;
    const undo = req.backupFirst && applying ? await backupTarget(req, ctx) : undefined;

    rejects = new RejectFile(req.rejects ? resolve(req.rejects) : defaultRejects(target));
    const planned: PlanTable[] = [];
    const staging = { reader, target: to, rejects, strict: req.strict, applying };
    const compare = async (s: StagedRows): Promise<void> => {
      const comparison = await to.compare(s.input.table.name, s.input.key, s.columns, CONFLICT_SAMPLES);
      planned.push({ name: s.input.table.name, key: s.input.key, columns: s.columns, created: !s.input.exists, rows: s.rows, ...tableCounts(comparison, req.strategy), rejected: s.rejected, conversions: s.conversions, conflicts: comparison.samples });
    };

    // Staging takes no lock on the target (SQLite's temp schema): every table is staged first, and
    // the write lock is held only to fingerprint, compare and apply — an application's writers go on meanwhile.
    const stageFirst = target.stagesBeforeBegin && inputs.every((i) => i.exists);
    const staged: StagedRows[] = [];
    if (stageFirst) for await (const s of stageTables(staging, inputs, ctx)) staged.push(s);
    await target.begin();
    ctx.log.info({ target: target.uri }, "write lock taken");
    // Another import may have created tables while this one waited for the target: plan against what is there now.
    const now = planInputs(selected, await target.tables(), keys, req.createSchema, target.uri);
    if (stageFirst && inputsShape(now) !== inputsShape(inputs)) {
      throw new HoldfastError("IMPORT_SCHEMA_MISMATCH", `the tables of ${target.uri} changed while the import staged its rows; nothing was written`, { hint: "import again" });
    }
    inputs = now;
    const fingerprint = await target.fingerprint(names);
    if (savedPlan) checkPlanFingerprint(savedPlan, fingerprint);
    if (stageFirst) {
      for (const s of staged) await compare(s);
    } else {
      const missing = inputs.filter((i) => !i.exists).map((i) => i.table);
      if (missing.length) {
        await target.createTables(dependencyOrder(missing).map((t) => ({ ...t, columns: t.columns.filter((c) => !c.generated) })), reader.schema.engine);
        // Values convert to the columns as created (a SQLite DATETIME became timestamptz), not as exported.
        const created = await target.tables();
        inputs = planInputs(selected, created, keys, false, target.uri).map((i) => ({ ...i, exists: !missing.includes(i.table) }));
      }
      for await (const s of stageTables(staging, inputs, ctx)) await compare(s);
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
