import { connect, describePg, ident, parsePgUrl } from "../engines/postgres/connection.js";
import { HoldfastError } from "../errors.js";
import { DEFAULT_HISTORY_TABLE } from "../migrate/history.js";
import { applyStaged, compareStaged } from "./pg-apply.js";
import { CreatedForeignKeys } from "./pg-created-keys.js";
import { pgConversion } from "./pg-conversions.js";
import { copyRows } from "./pg-copy.js";
import { createTableStatements, looksLikeSqlite } from "./pg-ddl.js";
import { advanceTableSequences, fingerprintTables, orphansOf, refuseUndeferredCycle, type TableState } from "./pg-integrity.js";
import { describeTable, listTables } from "./pg-schema.js";
import { abortWhenClientGoes, takeImportLock } from "./pg-session.js";
import { columnFacts } from "./pg-staged.js";
import type { ImportTarget } from "./target.js";

/**
 * A PostgreSQL database opened for import (the contract and call sequence: target.ts). One
 * connection, one transaction: BEGIN + SET CONSTRAINTS ALL DEFERRED; each table is COPYed into a
 * TEMP staging table (ON COMMIT DROP: gone after commit or rollback, never in the target's files),
 * compared and applied by SQL on the server. The session runs in UTC with ISO dates and hex bytea,
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
  const createdKeys = new CreatedForeignKeys();

  const fail = (what: string, err: unknown): HoldfastError => {
    if (err instanceof HoldfastError) return err;
    const code = String((err as { code?: unknown }).code ?? "");
    const message = `${where}: ${what}: ${(err as Error).message}`;
    // Class 22 (a value the column's type refuses) and 23 (a constraint): the data, not Holdfast.
    if (code === "42703" || code === "42P01") return new HoldfastError("IMPORT_SCHEMA_MISMATCH", message, { cause: err, hint: "the target's tables differ from the export's; compare them, or import with --create-schema into a target without them" });
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
      next.set(table.name, { table, relation: `${ident(r.schema)}.${ident(r.table)}`, staged: known.get(table.name)?.staged });
    }
    known = next;
  };

  const state = (table: string): TableState => {
    const t = known.get(table);
    if (!t) throw new HoldfastError("IMPORT_SCHEMA_MISMATCH", `${where} has no table ${table}`, { hint: "create it first, or import with --create-schema into a target without it" });
    return t;
  };

  /** The staging of `table`, checked against the key the caller matches on (ON CONFLICT needs a unique index on exactly it). */
  const staged = (table: string, key: readonly string[]) => {
    const t = state(table);
    const s = t.staged;
    if (!s) throw new HoldfastError("INTERNAL", `${table} was not staged before it was compared or applied`);
    const same = (cols: readonly string[]) => cols.length === key.length && cols.every((c) => key.includes(c));
    if (!same(t.table.primaryKey ?? []) && !t.table.uniqueKeys.some((u) => same(u.columns))) {
      throw new HoldfastError("IMPORT_SCHEMA_MISMATCH", `${table}: (${key.join(", ")}) is neither the primary key nor a unique key of the table on ${where}`, { hint: "rows are matched on a key the target enforces; add the key, or choose another" });
    }
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
    async tables() {
      return [...known.values()].map((t) => t.table);
    },
    async begin() {
      await guard("BEGIN", () => client.query("BEGIN; SET CONSTRAINTS ALL DEFERRED"));
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
    async stage(table, columns, rows) {
      const t = state(table);
      const stage = ident(`holdfast_stage_${++stages}`);
      return guard(`staging ${table}`, async () => {
        await client.query(`CREATE TEMP TABLE ${stage} ON COMMIT DROP AS SELECT ${columns.map(ident).join(", ")} FROM ${t.relation} WITH NO DATA`);
        t.staged = { name: table, relation: t.relation, stage, columns, facts: await columnFacts(client, t.relation), applied: false };
        const n = await copyRows(client, `${stage} (${columns.map(ident).join(", ")})`, rows);
        await client.query(`ANALYZE ${stage}`);
        return n;
      });
    },
    async compare(table, key, _columns, sampleLimit) {
      const s = staged(table, key);
      return guard(`comparing ${table}`, () => compareStaged(client, s, key, sampleLimit));
    },
    async apply(table, key, _columns, strategy) {
      const s = staged(table, key);
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
          await createdKeys.restore(client);
          await client.query("COMMIT");
        });
      } finally {
        createdKeys.reset();
        open = false;
        for (const t of known.values()) t.staged = undefined;
      }
    },
    async rollback() {
      if (open) await client.query("ROLLBACK");
      createdKeys.reset();
      open = false;
      for (const t of known.values()) t.staged = undefined;
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
