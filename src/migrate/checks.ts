import type { TableFacts } from "../repository/manifest.js";
import type { Assertion } from "./checks-sql.js";
import { probeHealth } from "./checks-health.js";
import type { CheckOutcome } from "./report.js";
import { UPGRADE_LOG_TABLE, type DatabaseState, type UpgradeTarget } from "./upgrade-target.js";

/** Migration tools' bookkeeping tables: written by every migration, so always "touched". */
const BOOKKEEPING = new Set([UPGRADE_LOG_TABLE, "alembic_version", "schema_migrations", "knex_migrations", "knex_migrations_lock", "flyway_schema_history", "_prisma_migrations", "goose_db_version", "holdfast_schema_history"]);

export interface CheckOptions {
  assertions: Assertion[];
  /** Tables the migrations change rows of without changing their definition (a backfill). */
  touches: string[];
  rows: boolean;
  foreignKeys: boolean;
  health?: { url: string; tries: number; intervalMs: number; timeoutMs: number };
  signal?: AbortSignal;
}

/** The checks after the migrations ran, in order: assertions, unchanged rows, foreign keys, health. */
export async function runChecks(target: UpgradeTarget, before: DatabaseState, options: CheckOptions): Promise<CheckOutcome[]> {
  const out: CheckOutcome[] = [];
  for (const r of await target.assert(options.assertions)) out.push({ kind: "assertion", name: r.assertion.name, ok: r.ok, detail: r.detail });
  if (options.rows) {
    const after = await target.state(options.signal);
    const { problems, compared, touched } = unchangedRows(before, after, options.touches);
    out.push({ kind: "unchanged-rows", name: "tables the migrations did not touch", ok: problems.length === 0, detail: problems.length ? problems.join("; ") : `${compared} table(s) unchanged; touched: ${touched.join(", ") || "none"}` });
  }
  if (options.foreignKeys) {
    const fk = await target.foreignKeys();
    const notes = fk.notes.length ? ` (${fk.notes.join("; ")})` : "";
    out.push({ kind: "foreign-keys", name: "foreign keys", ok: fk.problems.length === 0, detail: (fk.problems.length ? fk.problems.join("; ") : "every row has its parent") + notes });
  }
  if (options.health) {
    const h = await probeHealth(options.health.url, { ...options.health, signal: options.signal });
    out.push({ kind: "health", name: options.health.url, ok: h.ok, detail: h.detail });
  }
  return out;
}

/**
 * The row check. A table is touched when the migrations created or dropped it, changed its column
 * definitions, it is named by --touches, or it is a migration tool's bookkeeping table; every other
 * table must keep its row count and content checksum.
 */
export function unchangedRows(before: DatabaseState, after: DatabaseState, touches: string[]): { problems: string[]; compared: number; touched: string[] } {
  const afterByName = new Map(after.tables.map((t) => [t.name, t]));
  const declared = new Set(touches);
  const isTouched = (t: TableFacts) => {
    const bare = t.name.slice(t.name.indexOf(".") + 1);
    return declared.has(t.name) || declared.has(bare) || BOOKKEEPING.has(bare) || !afterByName.has(t.name) || before.definitions[t.name] !== after.definitions[t.name];
  };
  const problems: string[] = [];
  const touched: string[] = [];
  let compared = 0;
  for (const t of before.tables) {
    if (isTouched(t)) {
      touched.push(t.name);
      continue;
    }
    compared++;
    const now = afterByName.get(t.name)!;
    if (now.rows !== t.rows) problems.push(`${t.name} has ${now.rows} rows, ${t.rows} before`);
    else if (now.checksum !== t.checksum) problems.push(`${t.name} content changed (same ${t.rows} rows)`);
  }
  return { problems, compared, touched };
}

/** The rollback proof: everything equal but the upgrade log's own rows. */
export function compareStates(before: DatabaseState, after: DatabaseState): string[] {
  const problems: string[] = [];
  if (before.schema !== after.schema) {
    const a = before.schema.split("\n");
    const b = after.schema.split("\n");
    const i = a.findIndex((line, n) => line !== b[n]);
    const at = i < 0 ? a.length : i;
    problems.push(`schema dump differs at line ${at + 1}: before "${a[at] ?? "(end)"}", now "${b[at] ?? "(end)"}"`);
  }
  const isLog = (name: string) => name === UPGRADE_LOG_TABLE || name.endsWith(`.${UPGRADE_LOG_TABLE}`);
  const afterByName = new Map(after.tables.map((t) => [t.name, t]));
  for (const t of before.tables) {
    if (isLog(t.name)) continue;
    const now = afterByName.get(t.name);
    if (!now) problems.push(`table ${t.name} is missing`);
    else if (now.rows !== t.rows) problems.push(`table ${t.name} has ${now.rows} rows, ${t.rows} before`);
    else if (now.checksum !== t.checksum) problems.push(`table ${t.name} content checksum differs`);
  }
  const names = new Set(before.tables.map((t) => t.name));
  for (const t of after.tables) if (!names.has(t.name)) problems.push(`table ${t.name} was not there before`);
  return problems;
}
