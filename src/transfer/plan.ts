import { chmod, readFile, writeFile } from "node:fs/promises";
import { z } from "zod";
import { HoldfastError } from "../errors.js";
import type { ExportManifest } from "./format.js";
import { STRATEGIES, type Orphans, type Strategy, type TableComparison } from "./target.js";

/**
 * An import plan: what the import of one export into one target by one strategy does, table by
 * table, computed inside the import's transaction before anything is written. `--plan-out` writes
 * it; `--plan` applies it only while the export, the strategy, the tables with their keys and the
 * target's fingerprint (SHA-256 over the selected tables' rows, taken before staging) are the
 * same — otherwise IMPORT_PLAN_STALE.
 */
export const PLAN_FORMAT_VERSION = 1 as const;

const conversionSchema = z.object({ column: z.string(), description: z.string(), before: z.unknown(), after: z.unknown() });
const sampleSchema = z.object({ key: z.record(z.string(), z.string().nullable()), differences: z.array(z.object({ column: z.string(), target: z.string().nullable(), export: z.string().nullable() })) });

export const planTableSchema = z.object({
  name: z.string(),
  key: z.array(z.string()),
  /** The columns written (the export's, generated ones left out). */
  columns: z.array(z.string()),
  created: z.boolean(),
  rows: z.number(),
  insert: z.number(),
  update: z.number(),
  unchanged: z.number(),
  skip: z.number(),
  conflict: z.number(),
  rejected: z.number(),
  conversions: z.array(conversionSchema),
  conflicts: z.array(sampleSchema),
});

export const planSchema = z.object({
  formatVersion: z.literal(PLAN_FORMAT_VERSION),
  export: z.object({ createdAt: z.string(), source: z.string(), schemaSha256: z.string(), tables: z.array(z.object({ name: z.string(), sha256: z.string(), rows: z.number() })) }),
  target: z.string(),
  strategy: z.enum(STRATEGIES as [Strategy, ...Strategy[]]),
  fingerprint: z.string(),
  tables: z.array(planTableSchema),
  orphans: z.array(z.object({ table: z.string(), foreignKey: z.string(), references: z.string(), count: z.number(), samples: z.array(z.string()) })),
  rejectsFile: z.string().optional(),
  backupId: z.string().optional(),
});

export type ImportPlan = z.infer<typeof planSchema>;
export type PlanTable = z.infer<typeof planTableSchema>;

export function exportIdentity(m: ExportManifest): ImportPlan["export"] {
  return { createdAt: m.createdAt, source: m.source.uri, schemaSha256: m.schema.sha256, tables: m.tables.map((t) => ({ name: t.name, sha256: t.sha256, rows: t.rows })) };
}

/** The plan's numbers for a table by strategy: conflicts are what skip skips and overwrite/merge update. */
export function tableCounts(c: TableComparison, strategy: Strategy): Pick<PlanTable, "insert" | "update" | "unchanged" | "skip" | "conflict"> {
  const updates = strategy === "overwrite" || strategy === "merge";
  return { insert: c.insert, update: updates ? c.conflict : 0, unchanged: c.unchanged, skip: strategy === "skip" ? c.conflict : 0, conflict: c.conflict };
}

export function orphanList(o: Orphans[]): ImportPlan["orphans"] {
  return o.map((x) => ({ ...x }));
}

export async function writePlan(path: string, plan: ImportPlan): Promise<void> {
  await writeFile(path, JSON.stringify(plan, null, 2) + "\n", { mode: 0o600 });
  await chmod(path, 0o600);
}

export async function readPlan(path: string): Promise<ImportPlan> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new HoldfastError("USAGE", `cannot read the plan ${path}: ${(err as Error).message}`);
  }
  const parsed = planSchema.safeParse(raw);
  if (!parsed.success) throw new HoldfastError("USAGE", `${path} is not an import plan (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message})`);
  return parsed.data;
}

const stale = (what: string) => new HoldfastError("IMPORT_PLAN_STALE", `the plan no longer applies: ${what}; nothing was written`, { hint: "make a new plan with --dry-run --plan-out" });

/** Before staging: the plan is for this export, target, strategy and these tables with these keys. */
export function checkPlanInputs(plan: ImportPlan, now: Pick<ImportPlan, "export" | "target" | "strategy"> & { tables: { name: string; key: string[] }[] }): void {
  if (JSON.stringify(plan.export) !== JSON.stringify(now.export)) throw stale(`it was made for the export of ${plan.export.createdAt} from ${plan.export.source}, not this one (${now.export.createdAt})`);
  if (plan.target !== now.target) throw stale(`it was made for ${plan.target}, not ${now.target}`);
  if (plan.strategy !== now.strategy) throw stale(`it was made with --strategy ${plan.strategy}, not ${now.strategy}`);
  const tables = (t: { name: string; key: string[] }[]) => t.map((x) => `${x.name}(${x.key.join(",")})`).join(" ");
  if (tables(plan.tables) !== tables(now.tables)) throw stale(`it covers the tables ${tables(plan.tables)}, not ${tables(now.tables)}`);
}

/** Inside the transaction, before staging: the target's selected tables are as they were. */
export function checkPlanFingerprint(plan: ImportPlan, fingerprint: string): void {
  if (plan.fingerprint !== fingerprint) throw stale(`${plan.target} changed since the plan was made (its rows' SHA-256 differs)`);
}
