import type { SqlStatement } from "./split.js";
import type { MigrationTarget, SqlSession } from "./target.js";

/** A change that discards data, with what it would discard now (undefined: could not be measured). */
export interface DestructiveChange {
  kind: "drop-table" | "truncate" | "delete-all" | "drop-column" | "narrow-type" | "drop-schema";
  table: string;
  column?: string;
  /** The new type of a narrowed column. */
  toType?: string;
  statement: string;
  rows?: number;
  bytes?: number;
}

const ID = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
const QID = String.raw`${ID}(?:\.${ID})?`;
const re = (text: string, flags = "i"): RegExp => new RegExp(text, flags);

/** The destructive changes one statement makes, unmeasured. */
export function findDestructive(stmt: SqlStatement): Omit<DestructiveChange, "rows" | "bytes">[] {
  const s = stmt.bare;
  const statement = s.length > 160 ? `${s.slice(0, 157)}…` : s;
  const list = (text: string): string[] => text.split(",").map((t) => t.trim()).filter(Boolean);
  let m = re(`^DROP TABLE (?:IF EXISTS )?(${QID}(?:\\s*,\\s*${QID})*)(?: CASCADE| RESTRICT)?$`).exec(s);
  if (m) return list(m[1]!).map((table) => ({ kind: "drop-table", table, statement }));
  m = re(`^TRUNCATE (?:TABLE )?(?:ONLY )?(${QID}(?:\\s*,\\s*${QID})*)\\b`).exec(s);
  if (m) return list(m[1]!).map((table) => ({ kind: "truncate", table, statement }));
  m = re(`^DELETE FROM (?:ONLY )?(${QID})`).exec(s);
  if (m && !/\bWHERE\b/i.test(s)) return [{ kind: "delete-all", table: m[1]!, statement }];
  m = re(`^DROP SCHEMA (?:IF EXISTS )?(${QID}).*\\bCASCADE$`).exec(s);
  if (m) return [{ kind: "drop-schema", table: m[1]!, statement }];
  m = re(`^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(${QID}) (.*)$`).exec(s);
  if (!m) return [];
  const table = m[1]!;
  const out: Omit<DestructiveChange, "rows" | "bytes">[] = [];
  for (const action of topLevelCommaSplit(m[2]!)) {
    const drop = re(`^DROP (?:COLUMN )?(?:IF EXISTS )?(${ID})`).exec(action);
    if (drop && !/^(CONSTRAINT|DEFAULT|NOT|EXPRESSION|IDENTITY)$/i.test(drop[1]!)) out.push({ kind: "drop-column", table, column: drop[1]!, statement });
    const type = re(`^ALTER (?:COLUMN )?(${ID}) (?:SET DATA )?TYPE ([^,]+?)(?: USING .*| COLLATE .*)?$`).exec(action);
    if (type) out.push({ kind: "narrow-type", table, column: type[1]!, toType: type[2]!.trim(), statement });
  }
  return out;
}

function topLevelCommaSplit(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "(") depth++;
    else if (text[i] === ")") depth--;
    else if (text[i] === "," && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

/** Measure what each change would discard now; a type change that does not narrow is dropped. */
export async function measure(target: MigrationTarget, changes: Omit<DestructiveChange, "rows" | "bytes">[]): Promise<DestructiveChange[]> {
  return target.read(async (s) => {
    const out: DestructiveChange[] = [];
    for (const c of changes) {
      const measured = await measureOne(s, target.engine, c).catch(() => ({}) as Partial<DestructiveChange>);
      if (measured === undefined) continue;
      out.push({ ...c, ...measured });
    }
    return out;
  });
}

async function measureOne(s: SqlSession, engine: "postgres" | "sqlite", c: Omit<DestructiveChange, "rows" | "bytes">): Promise<Partial<DestructiveChange> | undefined> {
  const one = async (sql: string, params: unknown[] = []): Promise<number | undefined> => {
    const row = (await s.query<Record<string, unknown>>(sql, params))[0];
    const v = row ? Object.values(row)[0] : undefined;
    return v === null || v === undefined ? undefined : Number(v);
  };
  const pg = engine === "postgres";
  const exists = pg ? (await one("SELECT count(*) FROM pg_class WHERE oid = to_regclass(?)", [c.table])) === 1 : (await one("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", [unquote(c.table)])) === 1;
  if (c.kind === "drop-schema") return {};
  if (!exists) return c.kind === "narrow-type" ? undefined : { rows: 0, bytes: 0 };
  const tableBytes = async (): Promise<number | undefined> =>
    pg ? one("SELECT pg_total_relation_size(to_regclass(?))", [c.table]) : one("SELECT sum(pgsize) FROM dbstat WHERE name = ?", [unquote(c.table)]).catch(() => undefined);
  if (c.kind === "drop-table" || c.kind === "truncate" || c.kind === "delete-all") {
    return { rows: await one(`SELECT count(*) FROM ${c.table}`), bytes: await tableBytes() };
  }
  const col = c.column!;
  if (c.kind === "drop-column") {
    const size = pg ? `sum(pg_column_size(${col}))` : `sum(length(CAST(${col} AS BLOB)))`;
    return { rows: await one(`SELECT count(${col}) FROM ${c.table}`), bytes: (await one(`SELECT ${size} FROM ${c.table}`)) ?? 0 };
  }
  if (!pg) return undefined;
  const current = await s.query<{ t: string }>("SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = to_regclass(?) AND attname = ? AND NOT attisdropped", [c.table, pgName(col)]);
  const loss = narrowing(current[0]?.t ?? "", c.toType!, col);
  if (loss === undefined) return undefined;
  const where = loss === "unknown" ? "true" : loss;
  const rows = await one(`SELECT count(*) FROM ${c.table} WHERE ${where}`);
  return loss === "unknown" ? { rows: undefined } : { rows, bytes: (await one(`SELECT sum(pg_column_size(${col})) FROM ${c.table} WHERE ${where}`)) ?? 0 };
}

const INT_BITS: Record<string, number> = { smallint: 16, int2: 16, integer: 32, int: 32, int4: 32, bigint: 64, int8: 64 };

/** A WHERE condition selecting the values the new type cannot hold, "unknown", or undefined (not narrowing). */
function narrowing(from: string, to: string, col: string): string | undefined {
  const f = from.toLowerCase();
  const t = to.toLowerCase().replace(/\s+/g, " ");
  const limit = /^(?:character varying|varchar|character|char)\s*\((\d+)\)$/.exec(t);
  if (limit) {
    const have = /\((\d+)\)$/.exec(f);
    if (have && Number(have[1]) <= Number(limit[1])) return undefined;
    return `char_length(${col}::text) > ${Number(limit[1])}`;
  }
  if (INT_BITS[t] !== undefined && INT_BITS[f] !== undefined) {
    if (INT_BITS[t]! >= INT_BITS[f]!) return undefined;
    const max = 2n ** BigInt(INT_BITS[t]! - 1);
    return `${col} >= ${max} OR ${col} < -${max}`;
  }
  const num = /^(?:numeric|decimal)\s*\((\d+)(?:,\s*(\d+))?\)$/.exec(t);
  if (num) {
    const have = /^numeric\((\d+),(\d+)\)$/.exec(f);
    if (have && Number(have[1]) <= Number(num[1]) && Number(have[2]) <= Number(num[2] ?? 0)) return undefined;
    return "unknown";
  }
  return undefined;
}

function unquote(name: string): string {
  return name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name;
}

/** An identifier as PostgreSQL stores it: unquoted names fold to lower case. */
function pgName(name: string): string {
  return name.startsWith('"') ? unquote(name) : name.toLowerCase();
}
