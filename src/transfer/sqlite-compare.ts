import type Database from "better-sqlite3";
import { HoldfastError } from "../errors.js";
import type { ExportTable } from "./format.js";
import { q } from "./sqlite-source.js";
import type { Orphans, Strategy, TableComparison, TableResult } from "./target.js";

/**
 * SQL over a table and its staging table (temp schema): the comparison by key (NULL-safe `IS`),
 * the writes by strategy (INSERT … ON CONFLICT(key), never a delete), and foreign-key orphans.
 */
export interface Staged {
  table: ExportTable;
  /** The staging table's quoted name: temp."…". */
  staging: string;
  key?: readonly string[];
}

const T = "t";
const S = "s";
const same = (cols: readonly string[], a = T, b = S) => (cols.length ? cols.map((c) => `${a}.${q(c)} IS ${b}.${q(c)}`).join(" AND ") : "1");

/** Staged rows whose key the table has, whether they differ, and the rows new to it. */
function counts(db: Database.Database, s: Staged, key: readonly string[], columns: readonly string[]) {
  const target = q(s.table.name);
  const matched = `FROM ${s.staging} ${S} JOIN main.${target} ${T} ON ${same(key)}`;
  const total = Number(db.prepare(`SELECT count(*) FROM ${s.staging}`).pluck().get());
  const existing = Number(db.prepare(`SELECT count(*) ${matched}`).pluck().get());
  const unchanged = Number(db.prepare(`SELECT count(*) ${matched} WHERE ${same(columns)}`).pluck().get());
  return { insert: total - existing, unchanged, conflict: existing - unchanged };
}

function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return Buffer.isBuffer(v) ? `\\x${v.toString("hex")}` : String(v);
}

export function compareStaged(db: Database.Database, s: Staged, key: readonly string[], columns: readonly string[], sampleLimit: number): TableComparison {
  db.exec(`CREATE INDEX IF NOT EXISTS ${s.staging.replace(/"$/, '_key"')} ON ${s.staging.replace(/^temp\./, "")} (${key.map(q).join(", ")})`);
  const result = counts(db, s, key, columns);
  const pick = [...key.map((c) => `${T}.${q(c)}`), ...columns.flatMap((c) => [`${T}.${q(c)}`, `${S}.${q(c)}`])].join(", ");
  const rows = db
    .prepare(`SELECT ${pick} FROM ${s.staging} ${S} JOIN main.${q(s.table.name)} ${T} ON ${same(key)} WHERE NOT (${same(columns)}) LIMIT ?`)
    .raw(true)
    .all(sampleLimit) as unknown[][];
  const samples = rows.map((r) => ({
    key: Object.fromEntries(key.map((k, i) => [k, text(r[i])])),
    differences: columns.flatMap((c, i) => {
      const [target, exported] = [r[key.length + 2 * i], r[key.length + 2 * i + 1]];
      const equal = target === exported || (Buffer.isBuffer(target) && Buffer.isBuffer(exported) && target.equals(exported));
      return equal ? [] : [{ column: c, target: text(target), export: text(exported) }];
    }),
  }));
  return { ...result, samples };
}

interface ColumnInfo { name: string; dflt_value: string | null; hidden: number; pk: number }

export function applyStaged(db: Database.Database, s: Staged, key: readonly string[], columns: readonly string[], strategy: Strategy): TableResult {
  const c = counts(db, s, key, columns);
  const target = q(s.table.name);
  if (strategy === "fail" && c.conflict > 0) {
    const first = db.prepare(`SELECT ${key.map((k) => `${S}.${q(k)}`).join(", ")} FROM ${s.staging} ${S} JOIN main.${target} ${T} ON ${same(key)} WHERE NOT (${same(columns)}) LIMIT 1`).raw(true).get() as unknown[];
    const shown = key.map((k, i) => `${k}=${text(first[i])}`).join(", ");
    throw new HoldfastError("IMPORT_CONFLICT", `${s.table.name}: ${c.conflict} row(s) exist in the target with other values, the first at ${shown}; nothing was written`, { hint: "choose --strategy skip, overwrite or merge, or see the plan with --dry-run" });
  }
  const list = columns.map(q).join(", ");
  const insert = `INSERT INTO main.${target} (${list}) SELECT ${list} FROM ${s.staging} WHERE true ON CONFLICT (${key.map(q).join(", ")})`;
  const carried = columns.filter((col) => !key.includes(col));
  let sets = carried.map((col) => `${q(col)} = excluded.${q(col)}`);
  if (strategy === "overwrite") {
    // Columns the export does not carry go back to their default (or NULL): the row becomes the
    // export's. The row's own primary key stays (matched by another unique key, it is the row's identity).
    const info = db.prepare(`PRAGMA table_xinfo(${target})`).safeIntegers(false).all() as ColumnInfo[];
    const rest = info.filter((i) => i.hidden === 0 && i.pk === 0 && !columns.includes(i.name) && !key.includes(i.name));
    sets = [...sets, ...rest.map((i) => `${q(i.name)} = ${i.dflt_value ?? "NULL"}`)];
  }
  const update = strategy === "merge" || strategy === "overwrite";
  if (update && sets.length) {
    // Rows equal over the carried columns are the plan's "unchanged": left as they are.
    const differs = carried.length ? `NOT (${same(carried, target, "excluded")})` : "false";
    db.prepare(`${insert} DO UPDATE SET ${sets.join(", ")} WHERE ${differs}`).run();
  } else db.prepare(`${insert} DO NOTHING`).run();
  return update ? { inserted: c.insert, updated: c.conflict, unchanged: c.unchanged, skipped: 0 } : { inserted: c.insert, updated: 0, unchanged: c.unchanged, skipped: c.conflict };
}

/** Rows that will have a foreign key pointing at no row: the table's rows the import leaves, plus staged rows it writes. */
export function orphansOf(db: Database.Database, child: Staged, staged: ReadonlyMap<string, Staged>, strategy: Strategy, limit = 5): Orphans[] {
  const out: Orphans[] = [];
  const key = child.key ?? [];
  const writesOnlyNew = strategy === "skip" || strategy === "fail";
  const existing = (alias: string) => `EXISTS (SELECT 1 FROM main.${q(child.table.name)} x WHERE ${same(key, "x", alias)})`;
  const shownKey = key.length ? key : child.table.columns.slice(0, 1).map((c) => c.name);
  for (const fk of child.table.foreignKeys) {
    const parent = staged.get(fk.references.table);
    const match = (alias: string) => fk.columns.map((col, i) => `${alias}.${q(fk.references.columns[i]!)} = c.${q(col)}`).join(" AND ");
    const noParent = `NOT EXISTS (SELECT 1 FROM main.${q(fk.references.table)} p WHERE ${match("p")})${parent ? ` AND NOT EXISTS (SELECT 1 FROM ${parent.staging} p WHERE ${match("p")})` : ""}`;
    const present = fk.columns.map((col) => `c.${q(col)} IS NOT NULL`).join(" AND ");
    const named = [...new Set([...shownKey, ...fk.columns])];
    const cols = named.map((col) => `c.${q(col)}`).join(", ");
    const fromStaging = `SELECT ${cols} FROM ${child.staging} c${writesOnlyNew ? ` WHERE NOT ${existing("c")}` : ""}`;
    const leftInTarget = `SELECT ${cols} FROM main.${q(child.table.name)} c${writesOnlyNew ? "" : ` WHERE NOT EXISTS (SELECT 1 FROM ${child.staging} y WHERE ${same(key, "y", "c")})`}`;
    const all = `SELECT * FROM (${fromStaging} UNION ALL ${leftInTarget}) c WHERE ${present} AND ${noParent}`;
    const count = Number(db.prepare(`SELECT count(*) FROM (${all})`).pluck().get());
    if (count === 0) continue;
    const samples = (db.prepare(`${all} LIMIT ?`).raw(true).all(limit) as unknown[][]).map((r) => {
      const value = (col: string) => `${col}=${text(r[named.indexOf(col)])}`;
      return `${shownKey.map(value).join(", ")} → ${fk.columns.map(value).join(", ")}`;
    });
    out.push({ table: child.table.name, foreignKey: fk.name ?? `(${fk.columns.join(", ")})`, references: `${fk.references.table} (${fk.references.columns.join(", ")})`, count, samples });
  }
  return out;
}
