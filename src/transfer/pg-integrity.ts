import { createHash } from "node:crypto";
import type pg from "pg";
import { ident } from "../engines/postgres/connection.js";
import { HoldfastError } from "../errors.js";
import type { ExportTable } from "./format.js";
import { hashCopyOut } from "./pg-copy.js";
import { joinOn, keyText, type StagedTable } from "./pg-staged.js";
import type { Orphans, Strategy } from "./target.js";

/** What the target knows of one table: its description, quoted name, and staging when staged. */
export interface TableState {
  table: ExportTable;
  relation: string;
  staged?: StagedTable;
  /** Rows COPYed straight into the table (it was empty, and is locked): no staging, they are in the table itself. */
  loaded?: number;
}

const ORPHAN_SAMPLES = 5;

type ForeignKey = ExportTable["foreignKeys"][number];

/**
 * The rows a foreign key would have after apply (target ∪ staged, by strategy) whose referenced
 * row exists neither in the referenced table nor in its staging. Only rows with every foreign-key
 * column set are checked (MATCH SIMPLE, as PostgreSQL does). A table loaded directly has no
 * staging: its rows, the imported ones included, are all in the table.
 */
export async function orphansOf(client: pg.Client, child: TableState, fk: ForeignKey, parent: TableState | undefined, strategy: Strategy): Promise<Orphans> {
  const s = child.staged;
  const key = s?.key ?? child.table.primaryKey ?? fk.columns;
  const cols = [...new Set([...fk.columns, ...key])].map(ident).join(", ");
  const parts: string[] = [];
  if (!s || !fk.columns.every((c) => s.columns.includes(c)) || !key.every((c) => s.columns.includes(c))) {
    parts.push(`SELECT ${cols} FROM ${child.relation}`);
  } else {
    const replaces = strategy === "merge" || strategy === "overwrite";
    const matched = `EXISTS (SELECT 1 FROM ${s.stage} s WHERE ${joinOn(key, "s", "t")})`;
    parts.push(`SELECT ${cols} FROM ${child.relation} t${replaces ? ` WHERE NOT ${matched}` : ""}`);
    const present = `EXISTS (SELECT 1 FROM ${child.relation} t WHERE ${joinOn(key, "s", "t")})`;
    parts.push(`SELECT ${cols} FROM ${s.stage} s${replaces ? "" : ` WHERE NOT ${present}`}`);
  }
  const refs = fk.references.columns;
  const on = fk.columns.map((c, i) => `p.${ident(refs[i]!)} = a.${ident(c)}`).join(" AND ");
  const ps = parent?.staged;
  const inStage = ps && refs.every((c) => ps.columns.includes(c)) ? ` AND NOT EXISTS (SELECT 1 FROM ${ps.stage} p WHERE ${on})` : "";
  const parentRelation = parent?.relation ?? fk.references.table;
  const { rows } = await client.query<unknown[]>({
    text: `SELECT count(*) OVER ()::text, ${key.map((k) => `a.${ident(k)}::text`).join(", ")}
           FROM (${parts.join(" UNION ALL ")}) a
           WHERE ${fk.columns.map((c) => `a.${ident(c)} IS NOT NULL`).join(" AND ")}
             AND NOT EXISTS (SELECT 1 FROM ${parentRelation} p WHERE ${on})${inStage}
           LIMIT ${ORPHAN_SAMPLES}`,
    rowMode: "array",
  });
  return {
    table: child.table.name,
    foreignKey: fk.name ?? `(${fk.columns.join(", ")})`,
    references: `${fk.references.table} (${refs.join(", ")})`,
    count: rows.length ? Number(rows[0]![0]) : 0,
    samples: rows.map((r) => keyText(key, r.slice(1) as (string | null)[])),
  };
}

/**
 * Whether PostgreSQL itself checked, row by row, everything just written against this NOT
 * DEFERRABLE foreign key: its check triggers fire in this session (none disabled, and
 * session_replication_role is origin, where triggers enabled for replicas only do not fire). A
 * table loaded straight into (it was empty when locked) then holds no orphan of that key, or its
 * COPY would have failed, and the scan for them is left out: on 5 M rows it read the whole table again.
 */
export async function checkedByServer(client: pg.Client, relation: string, fk: ForeignKey): Promise<boolean> {
  if (fk.deferrable !== false || !fk.name) return false;
  const { rows } = await client.query<{ checked: boolean | null }>(
    `SELECT current_setting('session_replication_role') = 'origin' AND count(*) > 0 AND bool_and(t.tgenabled IN ('O', 'A')) AS checked
     FROM pg_constraint c JOIN pg_trigger t ON t.tgconstraint = c.oid AND t.tgrelid = c.conrelid
     WHERE c.conrelid = $1::regclass AND c.conname = $2 AND c.contype = 'f' AND NOT c.condeferrable`,
    [relation, fk.name],
  );
  return rows[0]?.checked === true;
}

/**
 * A NOT DEFERRABLE foreign key is checked at the end of each statement: rows of this table that
 * reference rows staged for a table not yet applied (a cycle) would fail there. Refused before
 * anything of this table is written, naming the constraint.
 */
export async function refuseUndeferredCycle(client: pg.Client, child: TableState, tables: ReadonlyMap<string, TableState>): Promise<void> {
  const s = child.staged!;
  for (const fk of child.table.foreignKeys) {
    const parent = tables.get(fk.references.table);
    const ps = parent?.staged;
    if (fk.deferrable !== false || !ps || ps.applied || parent === child) continue;
    if (!fk.columns.every((c) => s.columns.includes(c)) || !fk.references.columns.every((c) => ps.columns.includes(c))) continue;
    const on = (alias: string) => fk.columns.map((c, i) => `${alias}.${ident(fk.references.columns[i]!)} = s.${ident(c)}`).join(" AND ");
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${s.stage} s WHERE EXISTS (SELECT 1 FROM ${ps.stage} p WHERE ${on("p")}) AND NOT EXISTS (SELECT 1 FROM ${parent!.relation} p WHERE ${on("p")})`,
    );
    const n = Number(rows[0]!.n);
    if (n > 0) {
      throw new HoldfastError(
        "IMPORT_SCHEMA_MISMATCH",
        `${child.table.name}: foreign key ${fk.name ?? `(${fk.columns.join(", ")})`} is NOT DEFERRABLE and ${n} imported row(s) reference rows of ${parent!.table.name} that are imported after it (a foreign-key cycle)`,
        { hint: `make it deferrable (ALTER TABLE … ALTER CONSTRAINT ${fk.name ?? "…"} DEFERRABLE INITIALLY DEFERRED) and import again; nothing was written` },
      );
    }
  }
}

/** SHA-256 over the tables' rows (COPY text, UTC), each table in primary-key order (else by the row's text). */
export async function fingerprintTables(client: pg.Client, tables: readonly (TableState | { absent: string })[]): Promise<string> {
  const hash = createHash("sha256");
  for (const t of tables) {
    if ("absent" in t) {
      hash.update(`${t.absent}\nabsent\n`); // --create-schema creates it: the plan holds that it did not exist
      continue;
    }
    hash.update(`${t.table.name}\n`);
    const order = t.table.primaryKey?.length ? t.table.primaryKey.map((c) => `t.${ident(c)}`).join(", ") : `t::text COLLATE "C"`;
    await hashCopyOut(client, `SELECT * FROM ${t.relation} t ORDER BY ${order}`, hash);
  }
  return hash.digest("hex");
}

/**
 * Serial and identity sequences of a table moved past max(column): setval(seq, max) makes the next
 * value max + 1. A sequence already past it, or an empty table, is left alone; descending sequences too.
 */
export async function advanceTableSequences(client: pg.Client, relation: string): Promise<void> {
  const { rows } = await client.query<{ column: string; seq: string }>(
    `SELECT a.attname AS column, d.objid::regclass::text AS seq
     FROM pg_depend d JOIN pg_sequence q ON q.seqrelid = d.objid JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1::regclass AND d.deptype IN ('a', 'i') AND q.seqincrement > 0`,
    [relation],
  );
  for (const r of rows) {
    await client.query(
      `SELECT setval($1::regclass, m.v) FROM (SELECT max(${ident(r.column)})::bigint AS v FROM ${relation}) m, ${r.seq} q
       WHERE m.v IS NOT NULL AND (m.v > q.last_value OR (NOT q.is_called AND m.v >= q.last_value))`,
      [r.seq],
    );
  }
}
