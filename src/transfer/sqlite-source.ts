import Database from "better-sqlite3";
import { HoldfastError } from "../errors.js";
import { sqliteEngine } from "../engines/sqlite/engine.js";
import { assertSqliteFile } from "../engines/sqlite/source-file.js";
import { sqliteVersion } from "../engines/sqlite/inspect.js";
import { DEFAULT_HISTORY_TABLE } from "../migrate/history.js";
import type { ExportColumn, ExportTable, NormalizedType, SequenceFacts } from "./format.js";
import type { RowTally } from "./ndjson.js";
import type { ExportSource } from "./source.js";
import { sqliteJsonLines, sqliteJsonLinesSelect } from "./sqlite-json-lines.js";
import { encodeSqliteValue, type JsonValue, type SourceValue } from "./values.js";

export const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** SQLite's affinity rules (https://sqlite.org/datatype3.html §3.1) onto normalized types. */
export function sqliteType(declared: string): NormalizedType {
  const t = declared.toUpperCase();
  if (!t) return "any";
  if (t.includes("INT")) return "integer";
  if (/CHAR|CLOB|TEXT/.test(t)) return "text";
  if (t.includes("BLOB")) return "bytes";
  if (/REAL|FLOA|DOUB/.test(t)) return "float";
  return "numeric";
}

interface XInfo { name: string; type: string; notnull: number; pk: number; hidden: number }
interface IndexRow { name: string; unique: number; origin: string; partial: number }
interface FkRow { id: number; table: string; from: string; to: string | null; on_update: string; on_delete: string }

/** Catalog reads with plain numbers (the connection reads data with bigints). */
function pragma<T>(db: Database.Database, sql: string): T[] {
  return db.prepare(sql).safeIntegers(false).all() as T[];
}

function describeTable(db: Database.Database, name: string, sql: string, hasSequences: boolean): ExportTable {
  const info = pragma<XInfo>(db, `PRAGMA table_xinfo(${q(name)})`).filter((c) => c.hidden !== 1);
  const pk = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
  const rowidAlias = pk.length === 1 && info.find((c) => c.name === pk[0])!.type.toUpperCase() === "INTEGER" && !/WITHOUT\s+ROWID/i.test(sql) ? pk[0] : undefined;
  const columns: ExportColumn[] = info.map((c) => ({
    name: c.name,
    declaredType: c.type,
    type: sqliteType(c.type),
    nullable: c.notnull === 0 && c.name !== rowidAlias,
    ...(c.hidden === 2 || c.hidden === 3 ? { generated: true } : {}),
  }));
  const uniqueKeys = pragma<IndexRow>(db, `PRAGMA index_list(${q(name)})`)
    .filter((i) => i.unique === 1 && i.origin !== "pk" && i.partial === 0)
    .map((i) => ({ name: i.origin === "c" ? i.name : undefined, columns: pragma<{ name: string | null }>(db, `PRAGMA index_info(${q(i.name)})`).map((c) => c.name) }))
    .filter((k): k is { name: string | undefined; columns: string[] } => k.columns.every((c) => c !== null))
    .map((k) => (k.name ? k : { columns: k.columns }));
  const fkRows = pragma<FkRow>(db, `PRAGMA foreign_key_list(${q(name)})`);
  const foreignKeys = [...new Set(fkRows.map((r) => r.id))].map((id) => {
    const rows = fkRows.filter((r) => r.id === id);
    const parentPk = () => pragma<XInfo>(db, `PRAGMA table_info(${q(rows[0]!.table)})`).filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
    return {
      columns: rows.map((r) => r.from),
      references: { table: rows[0]!.table, columns: rows.every((r) => r.to !== null) ? rows.map((r) => r.to!) : parentPk() },
      onDelete: rows[0]!.on_delete,
      onUpdate: rows[0]!.on_update,
    };
  });
  const sequences: SequenceFacts[] = [];
  if (rowidAlias) {
    const autoincrement = /AUTOINCREMENT/i.test(sql);
    const seq = autoincrement && hasSequences ? (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = ?").pluck().get(name) as bigint | undefined) : undefined;
    const current = seq ?? (db.prepare(`SELECT max(${q(rowidAlias)}) FROM ${q(name)}`).pluck().get() as bigint | null);
    sequences.push({ column: rowidAlias, kind: autoincrement ? "autoincrement" : "rowid", current: current === null ? null : encodeSqliteValue("integer", current) as number | string });
  }
  return { name, columns, ...(pk.length ? { primaryKey: pk } : {}), uniqueKeys, foreignKeys, sequences };
}

/** Every application table of a connection (the Holdfast history table left out), described. */
export function describeTables(db: Database.Database): ExportTable[] {
  const all = db.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string; sql: string }[];
  const hasSequences = db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'").get() !== undefined;
  return all.filter((t) => t.name !== DEFAULT_HISTORY_TABLE).map((t) => describeTable(db, t.name, t.sql, hasSequences));
}

/** Rows read into one batch before it goes down the pipeline. */
const BATCH_ROWS = 1000;

/** Open a SQLite file read-only and start the export's read transaction. */
export async function openSqliteSource(text: string): Promise<ExportSource> {
  const ref = sqliteEngine.parse(text);
  await assertSqliteFile(ref.path);
  const db = new Database(ref.path, { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  try {
    db.pragma("busy_timeout = 10000");
    db.prepare("BEGIN").run();
    // The first read fixes the snapshot (WAL) or takes the shared lock (rollback journal).
    const tables = describeTables(db);
    const history = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(DEFAULT_HISTORY_TABLE) !== undefined;
    const latest = history ? (db.prepare(`SELECT max(version) FROM ${q(DEFAULT_HISTORY_TABLE)} WHERE finished_at IS NOT NULL`).pluck().get() as bigint | null) : null;
    let closed = false;
    return {
      engine: "sqlite",
      uri: sqliteEngine.describe(ref),
      version: sqliteVersion(db),
      ...(latest !== null ? { migrationVersion: Number(latest) } : {}),
      tables,
      async *rows(table: ExportTable, where?: string): AsyncIterable<JsonValue[][]> {
        const types = table.columns.map((c) => c.type);
        let stmt;
        try {
          stmt = db.prepare(`SELECT ${table.columns.map((c) => q(c.name)).join(", ")} FROM ${q(table.name)}${where ? ` WHERE ${where}` : ""}`).raw(true);
        } catch (err) {
          throw new HoldfastError("USAGE", `cannot read ${table.name}${where ? ` where ${where}` : ""}: ${(err as Error).message}`);
        }
        let batch: JsonValue[][] = [];
        for (const row of stmt.iterate() as IterableIterator<SourceValue[]>) {
          batch.push(row.map((v, i) => encodeSqliteValue(types[i]!, v)));
          if (batch.length === BATCH_ROWS) {
            yield batch;
            batch = [];
          }
        }
        if (batch.length) yield batch;
      },
      // The same values written as JSON by SQLite (sqlite-json-lines.ts), when the table is not too wide for it.
      ndjson(table: ExportTable, where: string | undefined, tally: RowTally): AsyncIterable<Buffer> | undefined {
        const select = sqliteJsonLinesSelect(table, q, where);
        if (select === undefined) return undefined;
        return (async function* () {
          let stmt;
          try {
            stmt = db.prepare(select);
          } catch (err) {
            throw new HoldfastError("USAGE", `cannot read ${table.name}${where ? ` where ${where}` : ""}: ${(err as Error).message}`);
          }
          yield* sqliteJsonLines(stmt, table, tally);
        })();
      },
      async close() {
        if (closed) return;
        closed = true;
        if (db.inTransaction) db.prepare("COMMIT").run();
        db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
