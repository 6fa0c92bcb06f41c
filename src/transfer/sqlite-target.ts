import { createHash } from "node:crypto";
import { rm, stat } from "node:fs/promises";
import Database from "better-sqlite3";
import { HoldfastError } from "../errors.js";
import { sqliteEngine } from "../engines/sqlite/engine.js";
import { assertSqliteFile } from "../engines/sqlite/source-file.js";
import type { ExportTable } from "./format.js";
import { applyStaged, compareStaged, orphansOf, type Staged } from "./sqlite-compare.js";
import { sqliteConversion } from "./sqlite-conversion.js";
import { createTableSql } from "./sqlite-ddl.js";
import { describeTables, q } from "./sqlite-source.js";
import type { ImportTarget, TargetValue } from "./target.js";

/** Rows per multi-row INSERT into a staging table (fewer when a table has many columns). */
const BATCH_ROWS = 500;
const MAX_VARIABLES = 32_766;
/** Page cache per schema (main, temp), KiB. */
const PAGE_CACHE_KIB = 2048;

/**
 * SQLite's errors as Holdfast's: a constraint the target enforces (NOT NULL, CHECK, UNIQUE,
 * FOREIGN KEY) refused the import's rows; another writer held the file; the disk filled.
 */
function failure(where: string, err: unknown): unknown {
  if (err instanceof HoldfastError) return err;
  const { code = "", message } = err as { code?: string; message: string };
  if (code.startsWith("SQLITE_CONSTRAINT")) {
    return new HoldfastError("IMPORT_REJECTED", `${where}: ${message}; nothing was written`, { hint: "the target's constraints refuse the exported rows: see the plan with --dry-run", cause: err });
  }
  if (code.startsWith("SQLITE_BUSY")) return new HoldfastError("LOCKED", `${where}: the file stayed locked by another writer for 10 s; nothing was written`, { cause: err });
  if (code === "SQLITE_FULL") return new HoldfastError("NO_SPACE", `${where}: no space left; nothing was written`, { cause: err });
  return err;
}

async function guarded<T>(where: string, work: () => T): Promise<T> {
  try {
    return work();
  } catch (err) {
    throw failure(where, err);
  }
}

/**
 * ImportTarget for a SQLite file: BEGIN IMMEDIATE (writers wait, readers go on and see nothing
 * until commit), foreign keys on and deferred to commit so cycles load, staging tables in the
 * temp schema (never in the file), batched prepared inserts (flat memory). Staging takes no lock
 * on the file, so it runs before BEGIN IMMEDIATE (stagesBeforeBegin): the write lock is held only
 * while the import fingerprints, compares and applies.
 * `create`: a missing file is created (an empty target for --create-schema), and removed again
 * when the import does not commit.
 */
export async function openSqliteTarget(text: string, options: { create?: boolean } = {}): Promise<ImportTarget> {
  const ref = sqliteEngine.parse(text);
  const size = await stat(ref.path).then((s) => s.size, () => undefined);
  const exists = size !== undefined;
  // An empty file is an empty database to SQLite: another import creating it right now (it waits for that one below).
  if (!options.create || (exists && size > 0)) await assertSqliteFile(ref.path);
  const db = new Database(ref.path, { fileMustExist: !options.create });
  db.defaultSafeIntegers(true);
  db.pragma("busy_timeout = 10000");
  db.pragma("temp_store = FILE");
  // better-sqlite3 builds with a 16 MB page cache per schema; main and temp both fill theirs on a
  // large import (32 MB of the 150 MB budget). Staging and INSERT … SELECT run in key order and
  // spill to the files, so a small cache costs no speed.
  db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
  db.pragma(`temp.cache_size = -${PAGE_CACHE_KIB}`);
  const uri = sqliteEngine.describe(ref);
  const staged = new Map<string, Staged>();
  const stagedOf = (table: string): Staged => {
    const s = staged.get(table);
    if (!s) throw new HoldfastError("INTERNAL", `${table} was not staged`);
    return s;
  };
  let closed = false;
  let committed = false;

  return {
    engine: "sqlite",
    uri,
    stagesBeforeBegin: true,
    async tables() {
      return describeTables(db);
    },
    begin: () =>
      guarded(`import into ${uri}`, () => {
        db.pragma("foreign_keys = ON");
        db.prepare("BEGIN IMMEDIATE").run();
        db.pragma("defer_foreign_keys = ON");
      }),
    createTables: (tables: readonly ExportTable[]) =>
      guarded(`creating tables in ${uri}`, () => {
        for (const t of tables) db.exec(createTableSql(t));
      }),
    conversion: sqliteConversion,
    async stage(table, columns, rows) {
      const staging = `temp.${q(`holdfast_stage_${staged.size}`)}`;
      const list = columns.map(q).join(", ");
      db.exec(`CREATE TABLE ${staging} AS SELECT ${list} FROM main.${q(table)} WHERE 0`);
      const perBatch = Math.max(1, Math.min(BATCH_ROWS, Math.floor(MAX_VARIABLES / columns.length)));
      const one = `(${columns.map(() => "?").join(", ")})`;
      const single = db.prepare(`INSERT INTO ${staging} (${list}) VALUES ${one}`);
      const batch = db.prepare(`INSERT INTO ${staging} (${list}) VALUES ${Array(perBatch).fill(one).join(", ")}`);
      let buffer: TargetValue[] = [];
      let n = 0;
      // Staged before begin(): one transaction that writes only the temp schema (it takes no lock on the file).
      const own = !db.inTransaction;
      try {
        if (own) db.prepare("BEGIN").run();
        for await (const some of rows) {
          if (!Array.isArray(some)) throw new HoldfastError("INTERNAL", `${table}: SQLite staging was handed COPY text`);
          for (const row of some) {
            buffer.push(...row);
            if (++n % perBatch === 0) {
              batch.run(buffer);
              buffer = [];
            }
          }
        }
        for (let i = 0; i < buffer.length; i += columns.length) single.run(buffer.slice(i, i + columns.length));
        if (own) db.prepare("COMMIT").run();
      } catch (err) {
        if (own && db.inTransaction) db.prepare("ROLLBACK").run();
        throw failure(`staging ${table} for ${uri}`, err);
      }
      const described = describeTables(db).find((t) => t.name === table);
      if (!described) throw new HoldfastError("INTERNAL", `${table} vanished from ${uri}`);
      staged.set(table, { table: described, staging });
      return n;
    },
    async compare(table, key, columns, sampleLimit) {
      const s = stagedOf(table);
      s.key = key;
      return compareStaged(db, s, key, columns, sampleLimit);
    },
    apply: (table, key, columns, strategy) => guarded(`import into ${table} of ${uri}`, () => applyStaged(db, stagedOf(table), key, columns, strategy)),
    async advanceSequences(table) {
      const s = stagedOf(table);
      for (const seq of s.table.sequences.filter((x) => x.kind === "autoincrement")) {
        const max = db.prepare(`SELECT max(${q(seq.column)}) FROM main.${q(table)}`).pluck().get() as bigint | null;
        if (max === null) continue;
        // AUTOINCREMENT hands out max(seq, max(rowid)) + 1; SQLite keeps sqlite_sequence itself, this makes it sure.
        const updated = db.prepare("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?").run(max, table).changes;
        if (updated === 0) db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)").run(table, max);
      }
    },
    async orphans(tables, strategy) {
      return tables.flatMap((t) => orphansOf(db, stagedOf(t), staged, strategy));
    },
    async fingerprint(tables) {
      const hash = createHash("sha256");
      const present = new Map(describeTables(db).map((t) => [t.name, t]));
      for (const name of [...tables].sort()) {
        const t = present.get(name);
        hash.update(`table ${name}\n`);
        if (!t) {
          hash.update("absent\n");
          continue;
        }
        const order = t.primaryKey?.length ? t.primaryKey.map(q).join(", ") : "rowid";
        const stmt = db.prepare(`SELECT ${t.columns.map((c) => q(c.name)).join(", ")} FROM main.${q(name)} ORDER BY ${order}`).raw(true);
        for (const row of stmt.iterate() as IterableIterator<unknown[]>) {
          for (const v of row) hash.update(Buffer.isBuffer(v) ? `b${v.toString("hex")}` : v === null ? "n" : `${typeof v}${String(v)}`).update("\x1f");
          hash.update("\x1e");
        }
      }
      return hash.digest("hex");
    },
    async commit() {
      try {
        db.prepare("COMMIT").run();
        committed = true;
      } catch (err) {
        if (db.inTransaction) db.prepare("ROLLBACK").run();
        throw failure(`import into ${uri} rolled back at commit`, err);
      }
    },
    async rollback() {
      if (db.inTransaction) db.prepare("ROLLBACK").run();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (db.inTransaction) db.prepare("ROLLBACK").run();
      db.close();
      // A file this import created and never committed to goes again: the target is as it was.
      if (!exists && !committed) for (const suffix of ["", "-journal", "-wal", "-shm"]) await rm(`${ref.path}${suffix}`, { force: true });
    },
  };
}
