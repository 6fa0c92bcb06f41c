import { connect, describePg, ident, parsePgUrl } from "../engines/postgres/connection.js";
import { HoldfastError } from "../errors.js";
import { DEFAULT_HISTORY_TABLE } from "../migrate/history.js";
import { applyStaged, compareStaged } from "./pg-apply.js";
import { CreatedKeys, exportHoldsKeyTwice } from "./pg-created-keys.js";
import { pgConversion } from "./pg-conversions.js";
import { copyRows } from "./pg-copy.js";
import { createTableStatements, looksLikeSqlite } from "./pg-ddl.js";
import { directLoadAllowed, lockIfEmpty } from "./pg-direct.js";
import { advanceTableSequences, checkedByServer, fingerprintTables, orphansOf, refuseUndeferredCycle, type TableState } from "./pg-integrity.js";
import { describeTable, listTables } from "./pg-schema.js";
import { abortWhenClientGoes, takeImportLock } from "./pg-session.js";
import { columnFacts } from "./pg-staged.js";
import type { ImportTarget } from "./target.js";

/**
 * A PostgreSQL database opened for import (the contract and call sequence: target.ts). One
 * connection, one transaction: BEGIN + SET CONSTRAINTS ALL DEFERRED; each table is COPYed into a
 * TEMP staging table (ON COMMIT DROP: gone after commit or rollback, never in the target's files),
 * compared and applied by SQL on the server — or, when the import applies and the table is empty
 * once locked, COPYed straight into the table (pg-direct.ts). The session runs in UTC with ISO dates and hex bytea,
 * so values compare and print the same whatever the server's defaults.
 */
export async function openPgTarget(uri: string): Promise<ImportTarget> {
  const ref = parsePgUrl(uri);
  const where = describePg(ref);
  const client = await connect(ref, "import");
  let known = new Map<string, TableState>();
  let open = false;
  let closed = false;
  let stages = 0;
  const createdKeys = new CreatedKeys();

  const fail = (what: string, err: unknown): HoldfastError => {
    if (err instanceof HoldfastError) return err;
    const code = String((err as { code?: unknown }).code ?? "");
    const message = `${where}: ${what}: ${(err as Error).message}`;
    // Class 22 (a value the column's type refuses) and 23 (a constraint): the data, not Holdfast.
    if (code === "42703" || code === "42P01") return new HoldfastError("IMPORT_SCHEMA_MISMATCH", message, { cause: err, hint: "the target's tables differ from the export's; compare them, or import with --create-schema into a target without them" });
    if (code === "21000") return new HoldfastError("IMPORT_REJECTED", message, { cause: err, hint: "the export holds the same key more than once; its transaction was rolled back and the target is unchanged" });
    if (code.startsWith("22") || code.startsWith("23")) return new HoldfastError("IMPORT_REJECTED", message, { cause: err, hint: "the target refused a row; its transaction was rolled back and the target is unchanged" });
    return new HoldfastError("INTERNAL", message, { cause: err });
  };
  const guard = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw fail(what, err);
    }
  };

  const describeAll = async (): Promise<void> => {
    const next = new Map<string, TableState>();
    for (const r of await listTables(client, DEFAULT_HISTORY_TABLE)) {
      const table = await describeTable(client, r);
      const before = known.get(table.name);
      next.set(table.name, { table, relation: `${ident(r.schema)}.${ident(r.table)}`, staged: before?.staged, loaded: before?.loaded });
    }
    known = next;
  };

  const state = (table: string): TableState => {
    const t = known.get(table);
    if (!t) throw new HoldfastError("IMPORT_SCHEMA_MISMATCH", `${where} has no table ${table}`, { hint: "create it first, or import with --create-schema into a target without it" });
    return t;
  };

  /** The table, checked against the key the caller matches on (ON CONFLICT needs a unique index on exactly it). */
  const keyed = (table: string, key: readonly string[]): TableState => {
    const t = state(table);
    const same = (cols: readonly string[]) => cols.length === key.length && cols.every((c) => key.includes(c));
    if (!same(t.table.primaryKey ?? []) && !t.table.uniqueKeys.some((u) => same(u.columns))) {
      throw new HoldfastError("IMPORT_SCHEMA_MISMATCH", `${table}: (${key.join(", ")}) is neither the primary key nor a unique key of the table on ${where}`, { hint: "rows are matched on a key the target enforces; add the key, or choose another" });
    }
    return t;
  };
  /** The staging of a keyed table. */
  const staged = (t: TableState, key: readonly string[]) => {
    const s = t.staged;
    if (!s) throw new HoldfastError("INTERNAL", `${t.table.name} was not staged before it was compared or applied`);
    s.key = key;
    return s;
  };

  try {
    await client.query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET bytea_output = 'hex'; SET extra_float_digits = 3");
    await abortWhenClientGoes(client);
    await describeAll();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw fail("cannot read the schema", err);
  }

  const target: ImportTarget = {
    engine: "postgres",
    uri: where,
    stagesBeforeBegin: false,
    copyText: true,
    async tables() {
      return [...known.values()].map((t) => t.table);
    },
    async begin() {
      // READ COMMITTED whatever the database's default: a statement after a LOCK sees every row committed before it.
      await guard("BEGIN", () => client.query("BEGIN ISOLATION LEVEL READ COMMITTED; SET CONSTRAINTS ALL DEFERRED"));
      open = true;
      await guard("waiting for another import", () => takeImportLock(client, where));
      await guard("reading the schema", describeAll); // as the import before this one left it
    },
    async createTables(tables, source?: "sqlite" | "postgres") {
      const missing = tables.filter((t) => !known.has(t.name));
      const sqlite = source ? source === "sqlite" : looksLikeSqlite(tables);
      const ddl = createTableStatements(missing, sqlite);
      for (const sql of [...ddl.tables, ...ddl.foreignKeys]) {
        try {
          await client.query(sql);
        } catch (err) {
          throw new HoldfastError("IMPORT_SCHEMA_MISMATCH", `${where}: cannot create the schema: ${(err as Error).message}`, { cause: err, hint: "check the export's schema.json against the type mapping in docs/export-import.md" });
        }
      }
      await describeAll();
      createdKeys.add(missing.map((t) => known.get(t.name)?.relation).filter((r): r is string => r !== undefined));
    },
    conversion: pgConversion,
    async stage(table, columns, rows, load) {
      const t = state(table);
      const facts = await guard(`reading ${table}`, () => columnFacts(client, t.relation));
      const direct = load !== undefined && directLoadAllowed(t, columns, facts, load, known) && (await guard(`locking ${table}`, () => lockIfEmpty(client, t.relation)));
      if (direct) {
        return guard(`loading ${table}`, async () => {
          await createdKeys.lift(client);
          await createdKeys.liftUnique(client, t.relation, table);
          try {
            t.loaded = await copyRows(client, `${t.relation} (${columns.map(ident).join(", ")})`, rows);
          } catch (err) {
            // A duplicate key in a table that was empty: the export holds it twice.
            throw exportHoldsKeyTwice(err, where, table, true);
          }
          return t.loaded;
        });
      }
      const stage = ident(`holdfast_stage_${++stages}`);
      return guard(`staging ${table}`, async () => {
        await client.query(`CREATE TEMP TABLE ${stage} ON COMMIT DROP AS SELECT ${columns.map(ident).join(", ")} FROM ${t.relation} WITH NO DATA`);
        t.staged = { name: table, relation: t.relation, stage, columns, facts, applied: false };
        const n = await copyRows(client, `${stage} (${columns.map(ident).join(", ")})`, rows);
        await client.query(`ANALYZE ${stage}`);
        return n;
      });
    },
    async compare(table, key, _columns, sampleLimit) {
      const t = keyed(table, key);
      if (t.loaded !== undefined) return { insert: t.loaded, unchanged: 0, conflict: 0, samples: [] };
      const s = staged(t, key);
      return guard(`comparing ${table}`, () => compareStaged(client, s, key, sampleLimit));
    },
    async apply(table, key, _columns, strategy) {
      const t = keyed(table, key);
      if (t.loaded !== undefined) return { inserted: t.loaded, updated: 0, unchanged: 0, skipped: 0 };
      const s = staged(t, key);
      return guard(`writing ${table}`, async () => {
        await refuseUndeferredCycle(client, state(table), known);
        await createdKeys.lift(client);
        return applyStaged(client, s, key, strategy);
      });
    },
    async advanceSequences(table) {
      await guard(`advancing the sequences of ${table}`, () => advanceTableSequences(client, state(table).relation));
    },
    async orphans(tables, strategy) {
      const out = [];
      for (const name of tables) {
        const child = state(name);
        for (const fk of child.table.foreignKeys) {
          const loadedDirectly = child.loaded !== undefined && !child.staged && !createdKeys.isCreated(child.relation);
          if (loadedDirectly && (await guard(`checking ${name}'s foreign keys`, () => checkedByServer(client, child.relation, fk)))) continue;
          const o = await guard(`checking ${name}'s foreign keys`, () => orphansOf(client, child, fk, known.get(fk.references.table), strategy));
          if (o.count > 0) out.push(o);
        }
      }
      return out;
    },
    async fingerprint(tables) {
      return guard("fingerprinting", () => fingerprintTables(client, tables.map((name) => known.get(name) ?? { absent: name })));
    },
    async commit() {
      try {
        await guard("commit (foreign keys are checked here)", async () => {
          await createdKeys.restore(client, where);
          await client.query("COMMIT");
        });
      } finally {
        createdKeys.reset();
        open = false;
        for (const t of known.values()) [t.staged, t.loaded] = [undefined, undefined];
      }
    },
    async rollback() {
      if (open) await client.query("ROLLBACK");
      createdKeys.reset();
      open = false;
      for (const t of known.values()) [t.staged, t.loaded] = [undefined, undefined];
    },
    async close() {
      if (closed) return;
      closed = true;
      if (open) await client.query("ROLLBACK").catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
  return target;
}
