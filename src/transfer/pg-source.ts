import type pg from "pg";
import { HoldfastError } from "../errors.js";
import { connect, describePg, ident, parsePgUrl } from "../engines/postgres/connection.js";
import { DEFAULT_HISTORY_TABLE } from "../migrate/history.js";
import type { ExportTable } from "./format.js";
import { copyTextBatches } from "./pg-copy-text.js";
import { copyTextToNdjson } from "./copy-ndjson.js";
import { CopyOut } from "./pg-copy-out.js";
import type { RowTally } from "./ndjson.js";
import { describeTable, listTables, type PgTableRef } from "./pg-schema.js";
import type { ExportSource } from "./source.js";
import { encodePgValue, type JsonValue } from "./values.js";

/**
 * Connect and open the export's snapshot: REPEATABLE READ READ ONLY, so every table, sequence and
 * catalog read sees the same instant; a concurrent writer's later commits are invisible.
 */
export async function openPgSource(text: string): Promise<ExportSource> {
  const ref = parsePgUrl(text);
  const client = await connect(ref, "export");
  try {
    // The value forms values.ts expects; and each table read from its first page, as pg_dump reads
    // it: with synchronized scans a COPY joins another scan of the table midway, so two exports of
    // unchanged rows would list them in other orders (other bytes, other SHA-256).
    await client.query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'; SET bytea_output = 'hex'; SET extra_float_digits = 3; SET synchronize_seqscans = off");
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const version = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
    const refs = await listTables(client, DEFAULT_HISTORY_TABLE);
    const relations = new Map<string, PgTableRef>();
    const tables: ExportTable[] = [];
    for (const r of refs) {
      const t = await describeTable(client, r);
      relations.set(t.name, r);
      tables.push(t);
    }
    const migrationVersion = await latestMigration(client);
    let closed = false;
    /** A COPY still streaming (its reader stopped early): the connection is ended, not reused. */
    let copying: CopyOut | undefined;
    const relationOf = (table: ExportTable) => {
      const r = relations.get(table.name)!;
      return `${ident(r.schema)}.${ident(r.table)}`;
    };
    const selectOf = (table: ExportTable, where: string | undefined) => `SELECT ${table.columns.map((c) => ident(c.name)).join(", ")} FROM ${relationOf(table)}${where ? ` WHERE ${where}` : ""}`;
    /** One COPY … TO STDOUT in the snapshot, read by `read`; an error before any output names the table (a bad --where). */
    async function* copyOut<T>(table: ExportTable, where: string | undefined, sql: string, read: (copy: AsyncIterable<Buffer>) => AsyncIterable<T>): AsyncIterable<T> {
      await client.query("SAVEPOINT holdfast_table");
      const copy = client.query(new CopyOut(sql));
      copying = copy;
      let started = false;
      try {
        for await (const item of read(copy)) {
          started = true;
          yield item;
        }
      } catch (err) {
        if (copying !== copy || started || err instanceof HoldfastError) throw err;
        copying = undefined;
        await client.query("ROLLBACK TO SAVEPOINT holdfast_table");
        throw new HoldfastError("USAGE", `cannot read ${table.name}${where ? ` where ${where}` : ""}: ${(err as Error).message}`);
      }
      copying = undefined;
      await client.query("RELEASE SAVEPOINT holdfast_table");
    }
    return {
      engine: "postgres",
      uri: describePg(ref),
      version,
      ...(migrationVersion !== undefined ? { migrationVersion } : {}),
      tables,
      // COPY (SELECT …) TO STDOUT in the snapshot: the server streams every value in its text form
      // (the session settings above fix those forms) while the rows are encoded (values.ts).
      rows(table: ExportTable, where?: string): AsyncIterable<JsonValue[][]> {
        const types = table.columns.map((c) => c.type);
        const encode = (fields: (string | null)[]) => fields.map((v, i) => encodePgValue(types[i]!, v));
        return copyOut(table, where, `COPY (${selectOf(table, where)}) TO STDOUT`, (copy) => copyTextBatches(copy, encode));
      },
      // The same COPY, its text rewritten into NDJSON bytes without JavaScript values (copy-ndjson.ts).
      ndjson(table: ExportTable, where: string | undefined, tally: RowTally): AsyncIterable<Buffer> {
        return copyOut(table, where, `COPY (${selectOf(table, where)}) TO STDOUT`, (copy) => copyTextToNdjson(copy, table.columns, tally));
      },
      async close() {
        if (closed) return;
        closed = true;
        if (!copying) await client.query("ROLLBACK").catch(() => undefined);
        await client.end().catch(() => undefined);
      },
    };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
}

async function latestMigration(client: pg.Client): Promise<number | undefined> {
  const exists = await client.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [`public.${DEFAULT_HISTORY_TABLE}`]);
  if (!exists.rows[0]?.t) return undefined;
  const { rows } = await client.query<{ v: string | null }>(`SELECT max(version)::text AS v FROM public.${ident(DEFAULT_HISTORY_TABLE)} WHERE finished_at IS NOT NULL`);
  return rows[0]?.v ? Number(rows[0].v) : undefined;
}
