import type pg from "pg";
import { ident } from "../engines/postgres/connection.js";
import { HoldfastError } from "../errors.js";
import { comparable, joinOn, keyText, sameValues, type StagedTable } from "./pg-staged.js";
import type { Strategy, TableComparison, TableResult } from "./target.js";

/**
 * Staging against the target table, and writing it, each in one statement per table.
 * compare: a LEFT JOIN on the key with IS NOT DISTINCT FROM over the carried columns.
 * apply:   INSERT … SELECT FROM staging ON CONFLICT (key) DO NOTHING (skip, fail) or DO UPDATE
 *          (merge: the carried columns; overwrite: carried columns and every other column back to
 *          its DEFAULT), only where the values differ; a plain INSERT … SELECT for fail when every
 *          staged key is new. Never a DELETE.
 */

export async function compareStaged(client: pg.Client, t: StagedTable, key: readonly string[], sampleLimit: number): Promise<TableComparison> {
  const found = `t.${ident(key[0]!)} IS NOT NULL`;
  const equal = sameValues(t, t.columns, "s", "t");
  const from = `${t.stage} s LEFT JOIN ${t.relation} t ON ${joinOn(key, "s", "t")}`;
  const counts = await client.query<{ insert: string; unchanged: string; conflict: string }>(
    `SELECT count(*) FILTER (WHERE NOT (${found}))::text AS insert,
            count(*) FILTER (WHERE ${found} AND ${equal})::text AS unchanged,
            count(*) FILTER (WHERE ${found} AND NOT (${equal}))::text AS conflict
     FROM ${from}`,
  );
  const c = counts.rows[0]!;
  const result: TableComparison = { insert: Number(c.insert), unchanged: Number(c.unchanged), conflict: Number(c.conflict), samples: [] };
  if (result.conflict === 0 || sampleLimit <= 0) return result;
  const others = t.columns.filter((col) => !key.includes(col));
  const select = [
    ...key.map((k) => `s.${ident(k)}::text`),
    ...others.flatMap((col) => [`${comparable(t, "s", col)} IS DISTINCT FROM ${comparable(t, "t", col)}`, `t.${ident(col)}::text`, `s.${ident(col)}::text`]),
  ];
  const samples = await client.query<unknown[]>({
    text: `SELECT ${select.join(", ")} FROM ${t.stage} s JOIN ${t.relation} t ON ${joinOn(key, "s", "t")} WHERE NOT (${equal}) ORDER BY ${key.map((k) => `s.${ident(k)}`).join(", ")} LIMIT ${Math.floor(sampleLimit)}`,
    rowMode: "array",
  });
  for (const row of samples.rows) {
    const keyValues = row.slice(0, key.length) as (string | null)[];
    const differences: TableComparison["samples"][number]["differences"] = [];
    others.forEach((column, i) => {
      const at = key.length + i * 3;
      if (row[at] === true) differences.push({ column, target: row[at + 1] as string | null, export: row[at + 2] as string | null });
    });
    result.samples.push({ key: Object.fromEntries(key.map((k, i) => [k, keyValues[i]!])), differences });
  }
  return result;
}

export async function applyStaged(client: pg.Client, t: StagedTable, key: readonly string[], strategy: Strategy): Promise<TableResult> {
  const staged = Number((await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.stage}`)).rows[0]!.n);
  let plan: TableComparison | undefined;
  if (strategy === "skip" || strategy === "fail") {
    plan = await compareStaged(client, t, key, strategy === "fail" ? 1 : 0);
    if (strategy === "fail" && plan.conflict > 0) {
      const s = plan.samples[0]!;
      const differs = s.differences.map((d) => d.column).join(", ");
      throw new HoldfastError("IMPORT_CONFLICT", `${t.name}: key ${keyText(key, key.map((k) => s.key[k] ?? null))} exists with other values${differs ? ` (${differs})` : ""}; ${plan.conflict} row(s) in conflict`, {
        hint: "nothing was written; choose --strategy skip, merge or overwrite (a --dry-run plan lists the conflicts)",
      });
    }
  }
  const writable = t.columns.filter((c) => !t.facts.get(c)?.generated);
  const always = writable.some((c) => t.facts.get(c)?.identity === "a");
  // A GENERATED ALWAYS identity can be inserted (OVERRIDING SYSTEM VALUE) but only updated to DEFAULT: an existing row keeps it.
  const settable = writable.filter((c) => !key.includes(c) && t.facts.get(c)?.identity !== "a");
  const sets = settable.map((c) => `${ident(c)} = EXCLUDED.${ident(c)}`);
  if (strategy === "overwrite") {
    for (const f of t.facts.values()) if (!f.generated && !key.includes(f.name) && !t.columns.includes(f.name)) sets.push(`${ident(f.name)} = DEFAULT`);
  }
  const update = strategy === "merge" || strategy === "overwrite";
  const action = update && sets.length > 0 ? `DO UPDATE SET ${sets.join(", ")} WHERE NOT (${sameValues(t, settable, "t", "EXCLUDED")})` : "DO NOTHING";
  const cols = writable.map(ident).join(", ");
  const insert = `INSERT INTO ${t.relation} AS t (${cols})${always ? " OVERRIDING SYSTEM VALUE" : ""} SELECT ${cols} FROM ${t.stage}`;
  if (strategy === "fail" && plan && plan.insert === staged) {
    // Every staged key is new: a plain INSERT (no arbiter index probe per row). A key another
    // session commits meanwhile is then a unique violation that rolls the import back — a conflict.
    const inserted = (await client.query(insert)).rowCount ?? 0;
    t.applied = true;
    return { inserted, updated: 0, unchanged: 0, skipped: 0 };
  }
  const { rows } = await client.query<{ inserted: string; updated: string }>(
    `WITH w AS (${insert}
                ON CONFLICT (${key.map(ident).join(", ")}) ${action} RETURNING (t.xmax = 0) AS inserted)
     SELECT count(*) FILTER (WHERE inserted)::text AS inserted, count(*) FILTER (WHERE NOT inserted)::text AS updated FROM w`,
  );
  const inserted = Number(rows[0]!.inserted);
  const updated = Number(rows[0]!.updated);
  t.applied = true;
  if (plan) return { inserted, updated: 0, unchanged: plan.unchanged, skipped: staged - inserted - plan.unchanged };
  return { inserted, updated, unchanged: staged - inserted - updated, skipped: 0 };
}
