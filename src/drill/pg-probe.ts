import type pg from "pg";
import { connect, type PgRef } from "../engines/postgres/connection.js";
import { describeValue, PROBE_TABLE, truthy, type DrillProbe, type ProbeResult } from "./probe.js";

/** Sequences owned by a column (serial, identity), with that column. */
const OWNED_SEQUENCES = `
  SELECT s.seqrelid::regclass::text AS seq, d.refobjid::regclass::text AS tbl, quote_ident(a.attname) AS col
  FROM pg_catalog.pg_sequence s
  JOIN pg_catalog.pg_depend d ON d.objid = s.seqrelid AND d.classid = 'pg_catalog.pg_class'::regclass
   AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
  JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
  ORDER BY 1`;

/** The drill's checks on a restored PostgreSQL database (a scratch database, or a drill's own cluster). */
export async function pgProbe(ref: PgRef): Promise<DrillProbe> {
  const client: pg.Client = await connect(ref, "drill");
  return {
    async writeProbe() {
      await client.query(`CREATE TABLE public.${PROBE_TABLE} (id bigserial PRIMARY KEY, note text NOT NULL)`);
      try {
        await client.query(`INSERT INTO public.${PROBE_TABLE} (note) VALUES ('drill')`);
        const { rows } = await client.query(`SELECT note FROM public.${PROBE_TABLE}`);
        if (rows[0]?.note !== "drill") throw new Error(`read back ${describeValue(rows[0]?.note)} instead of the row written`);
      } finally {
        await client.query(`DROP TABLE IF EXISTS public.${PROBE_TABLE}`);
      }
      return `created, wrote, read back and dropped ${PROBE_TABLE}`;
    },
    async sequences() {
      const { rows } = await client.query<{ seq: string; tbl: string; col: string }>(OWNED_SEQUENCES);
      const out: ProbeResult[] = [];
      for (const { seq, tbl, col } of rows) {
        const state = (await client.query<{ last_value: string; is_called: boolean }>(`SELECT last_value, is_called FROM ${seq}`)).rows[0]!;
        const max = (await client.query<{ max: string | null }>(`SELECT max(${col})::text AS max FROM ${tbl}`)).rows[0]!.max;
        const next = BigInt(state.last_value) + (state.is_called ? 1n : 0n);
        const ok = max === null || next > BigInt(max);
        out.push({ name: seq, ok, detail: `next value ${next}, largest ${tbl}.${col} ${max ?? "(no rows)"}` });
      }
      return out;
    },
    async smoke(statements) {
      const out: ProbeResult[] = [];
      for (const sql of statements) {
        try {
          const result = await client.query({ text: sql, rowMode: "array" });
          const first = (result.rows[0] as unknown[] | undefined)?.[0];
          out.push({ name: sql, ok: result.rows.length > 0 && truthy(first), detail: `returned ${result.rows.length ? describeValue(first) : "no row"}` });
        } catch (err) {
          out.push({ name: sql, ok: false, detail: `failed: ${(err as Error).message}` });
        }
      }
      return out;
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}
