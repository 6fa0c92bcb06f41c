import type pg from "pg";
import { HoldfastError } from "../errors.js";
import { connect, describePg, ident, parsePgUrl } from "../engines/postgres/connection.js";
import { DEFAULT_HISTORY_TABLE } from "../migrate/history.js";
import type { ExportTable } from "./format.js";
import { describeTable, listTables, type PgTableRef } from "./pg-schema.js";
import type { ExportSource } from "./source.js";
import { encodePgValue, type JsonValue } from "./values.js";

/** Rows fetched per round trip from the export's cursor (memory stays flat). */
const FETCH_ROWS = 2000;

/** Every value as PostgreSQL's text form: the encoders (values.ts) decide what it becomes. */
const TEXT_TYPES = { getTypeParser: () => (text: string) => text };

/**
 * Connect and open the export's snapshot: REPEATABLE READ READ ONLY, so every table, sequence and
 * catalog read sees the same instant; a concurrent writer's later commits are invisible.
 */
export async function openPgSource(text: string): Promise<ExportSource> {
  const ref = parsePgUrl(text);
  const client = await connect(ref, "export");
  try {
    await client.query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'; SET bytea_output = 'hex'; SET extra_float_digits = 3");
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
    return {
      engine: "postgres",
      uri: describePg(ref),
      version,
      ...(migrationVersion !== undefined ? { migrationVersion } : {}),
      tables,
      async *rows(table: ExportTable, where?: string): AsyncIterable<JsonValue[]> {
        const r = relations.get(table.name)!;
        const types = table.columns.map((c) => c.type);
        const select = `SELECT ${table.columns.map((c) => ident(c.name)).join(", ")} FROM ${ident(r.schema)}.${ident(r.table)}${where ? ` WHERE ${where}` : ""}`;
        await client.query("SAVEPOINT holdfast_table");
        try {
          await client.query(`DECLARE holdfast_export NO SCROLL CURSOR FOR ${select}`);
        } catch (err) {
          await client.query("ROLLBACK TO SAVEPOINT holdfast_table");
          throw new HoldfastError("USAGE", `cannot read ${table.name}${where ? ` where ${where}` : ""}: ${(err as Error).message}`);
        }
        for (;;) {
          const batch = await client.query<unknown[]>({ text: `FETCH ${FETCH_ROWS} FROM holdfast_export`, rowMode: "array", types: TEXT_TYPES });
          for (const row of batch.rows) yield row.map((v, i) => encodePgValue(types[i]!, v as string | null));
          if (batch.rows.length < FETCH_ROWS) break;
        }
        await client.query("CLOSE holdfast_export; RELEASE SAVEPOINT holdfast_table");
      },
      async close() {
        if (closed) return;
        closed = true;
        await client.query("ROLLBACK").catch(() => undefined);
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
