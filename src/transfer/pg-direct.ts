import type pg from "pg";
import type { TableState } from "./pg-integrity.js";
import type { ColumnFacts } from "./pg-staged.js";
import type { DirectLoad } from "./target.js";

/** How long the import waits for another writer's lock on a table before it stages that table instead. */
const LOCK_WAIT = "500ms";

/**
 * Loading straight into a table (no staging, no INSERT … SELECT): only for a table that holds no
 * row once the import holds SHARE ROW EXCLUSIVE on it (other writers wait until COMMIT, readers go
 * on), so every exported row is an insert whatever the strategy, and the plan is exact.
 *
 * Not for a table whose written columns include a generated one (COPY refuses it), nor one with a
 * NOT DEFERRABLE foreign key to a table whose rows are not in it yet (staged, or still to come):
 * that key is checked when the COPY ends. Those, and tables another writer holds for longer than
 * LOCK_WAIT, take the staging path.
 */
export function directLoadAllowed(t: TableState, columns: readonly string[], facts: ReadonlyMap<string, ColumnFacts>, load: DirectLoad, tables: ReadonlyMap<string, TableState>): boolean {
  if (columns.some((c) => facts.get(c)?.generated)) return false;
  return t.table.foreignKeys.every((fk) => {
    if (fk.deferrable !== false || fk.references.table === t.table.name) return true;
    const parent = tables.get(fk.references.table);
    return !load.pending.includes(fk.references.table) && !(parent?.staged && !parent.staged.applied);
  });
}

/**
 * Locks the table against other writers (SHARE ROW EXCLUSIVE) and tells whether it is empty. The
 * lock is taken in a savepoint: kept until the transaction ends when the table is empty, given up
 * again (rolling back to the savepoint releases it) when the table has rows — it is then staged as
 * usual and other writers go on — or when it is not granted within LOCK_WAIT.
 */
export async function lockIfEmpty(client: pg.Client, relation: string): Promise<boolean> {
  await client.query(`SAVEPOINT holdfast_direct; SET LOCAL lock_timeout = '${LOCK_WAIT}'`);
  let empty = false;
  try {
    await client.query(`LOCK TABLE ${relation} IN SHARE ROW EXCLUSIVE MODE`);
    // READ COMMITTED: this statement's snapshot is taken after the lock, so it sees every committed row.
    const { rows } = await client.query<{ empty: boolean }>(`SELECT NOT EXISTS (SELECT 1 FROM ${relation}) AS empty`);
    empty = rows[0]?.empty === true;
  } catch (err) {
    if ((err as { code?: string }).code !== "55P03") throw err;
  }
  // Rolling back also undoes SET LOCAL; after RELEASE the lock timeout goes back to the session's.
  await client.query(empty ? "RELEASE SAVEPOINT holdfast_direct; SET LOCAL lock_timeout TO DEFAULT" : "ROLLBACK TO SAVEPOINT holdfast_direct; RELEASE SAVEPOINT holdfast_direct");
  return empty;
}
