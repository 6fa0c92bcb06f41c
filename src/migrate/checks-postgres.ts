import type pg from "pg";
import { ident } from "../engines/postgres/connection.js";

interface ForeignKey {
  name: string;
  child_schema: string;
  child: string;
  parent_schema: string;
  parent: string;
  child_cols: string[];
  parent_cols: string[];
  validated: boolean;
}

/**
 * Every foreign key, checked by a query of its own (a migration may have disabled triggers or added
 * the constraint NOT VALID): a child row whose key columns are all set and has no parent row is a
 * problem (MATCH SIMPLE, as PostgreSQL enforces it); a constraint still NOT VALID is a note.
 */
export async function foreignKeyCheck(client: pg.Client): Promise<{ problems: string[]; notes: string[] }> {
  const { rows } = await client.query<ForeignKey>(`
    SELECT con.conname AS name, cn.nspname AS child_schema, c.relname AS child, pn.nspname AS parent_schema, p.relname AS parent,
           array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS child_cols,
           array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS parent_cols,
           con.convalidated AS validated
    FROM pg_constraint con
    JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
    JOIN pg_class p ON p.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
    WHERE con.contype = 'f' ORDER BY 2, 3, 1`);
  const problems: string[] = [];
  const notes: string[] = [];
  for (const fk of rows) {
    const where = `${fk.child_schema}.${fk.child} (${fk.name})`;
    if (!fk.validated) notes.push(`foreign key ${where} is NOT VALID`);
    const set = fk.child_cols.map((c) => `c.${ident(c)} IS NOT NULL`).join(" AND ");
    const join = fk.child_cols.map((c, i) => `p.${ident(fk.parent_cols[i]!)} = c.${ident(c)}`).join(" AND ");
    const sql = `SELECT count(*)::text AS n FROM ${ident(fk.child_schema)}.${ident(fk.child)} c
      WHERE ${set} AND NOT EXISTS (SELECT 1 FROM ${ident(fk.parent_schema)}.${ident(fk.parent)} p WHERE ${join})`;
    const orphans = Number((await client.query<{ n: string }>(sql)).rows[0]!.n);
    if (orphans > 0) problems.push(`foreign key ${where}: ${orphans} row(s) without a parent in ${fk.parent_schema}.${fk.parent}`);
  }
  return { problems, notes };
}
