import type pg from "pg";
import { HoldfastError } from "../errors.js";

/**
 * Keys of tables this import created (--create-schema). They exist from the start, so the plan and
 * the orphan check see them, but while the rows are written they are lifted and added back just
 * before COMMIT, the way pg_restore and pgloader build them after the data:
 *  - foreign keys between created tables: adding one checks every row in one join, where a
 *    deferred one is checked row by row at COMMIT;
 *  - the primary key and unique constraints of a created table loaded by COPY straight into it:
 *    one sorted index build instead of an index insert per row. A key the export holds twice fails
 *    that build, naming the key, and the transaction rolls back.
 * The tables are new in this transaction (no one else sees them), and every key is in place,
 * checked, when the transaction commits — or nothing is. Keys whose parent table already existed
 * stay as they are (adding one would lock that table).
 */
export class CreatedKeys {
  private created = new Set<string>();
  private liftedForeign: string[] = [];
  private liftedUnique: { relation: string; table: string; sql: string }[] = [];

  /** Tables (quoted relations) created in this transaction. */
  add(relations: Iterable<string>): void {
    for (const r of relations) this.created.add(r);
  }

  isCreated(relation: string): boolean {
    return this.created.has(relation);
  }

  /** Drops the foreign keys between created tables, remembering how to add each back. */
  async lift(client: pg.Client): Promise<void> {
    if (this.created.size === 0 || this.liftedForeign.length) return;
    const relations = [...this.created];
    const { rows } = await client.query<{ child: string; name: string; def: string }>(
      `SELECT c.conrelid::regclass::text AS child, quote_ident(c.conname) AS name, pg_get_constraintdef(c.oid) AS def
       FROM pg_constraint c
       WHERE c.contype = 'f' AND c.conrelid = ANY ($1::regclass[]) AND c.confrelid = ANY ($1::regclass[])
       ORDER BY c.conrelid::regclass::text, c.conname`,
      [relations],
    );
    for (const r of rows) {
      await client.query(`ALTER TABLE ${r.child} DROP CONSTRAINT ${r.name}`);
      this.liftedForeign.push(`ALTER TABLE ${r.child} ADD CONSTRAINT ${r.name} ${r.def}`);
    }
  }

  /**
   * Before a created table is loaded by COPY: drops its primary key and unique constraints (after
   * the foreign keys that lean on them, lift()). Only for a created table, and only once.
   */
  async liftUnique(client: pg.Client, relation: string, table: string): Promise<void> {
    if (!this.created.has(relation) || this.liftedUnique.some((u) => u.relation === relation)) return;
    await this.lift(client);
    const { rows } = await client.query<{ name: string; def: string }>(
      `SELECT quote_ident(conname) AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
       WHERE conrelid = $1::regclass AND contype IN ('p', 'u') ORDER BY contype, conname`,
      [relation],
    );
    for (const r of rows) {
      await client.query(`ALTER TABLE ${relation} DROP CONSTRAINT ${r.name}`);
      this.liftedUnique.push({ relation, table, sql: `ALTER TABLE ${relation} ADD CONSTRAINT ${r.name} ${r.def}` });
    }
  }

  /** Adds the lifted keys back, unique ones first (each builds its index or checks every row); a violation throws. */
  async restore(client: pg.Client, where: string): Promise<void> {
    for (const u of this.liftedUnique.splice(0)) {
      try {
        await client.query(u.sql);
      } catch (err) {
        throw exportHoldsKeyTwice(err, where, u.table, false);
      }
    }
    for (const sql of this.liftedForeign.splice(0)) await client.query(sql);
  }

  /** After COMMIT or ROLLBACK: nothing is pending any more. */
  reset(): void {
    this.created.clear();
    this.liftedForeign = [];
    this.liftedUnique = [];
  }
}

/**
 * A unique key the export's own rows break (23505, from a COPY into a table that was empty or from
 * building a lifted key): IMPORT_REJECTED naming the key, with the constraint when asked. Any other
 * error is returned as it is.
 */
export function exportHoldsKeyTwice(err: unknown, where: string, table: string, withConstraint: boolean): unknown {
  const e = err as { code?: string; detail?: string; constraint?: string };
  if (e.code !== "23505") return err;
  const key = /^Key (.*) (?:already exists|is duplicated)/.exec(e.detail ?? "")?.[1] ?? "a key";
  const constraint = withConstraint ? ` (${e.constraint ?? "unique key"})` : "";
  return new HoldfastError("IMPORT_REJECTED", `${where}: loading ${table}: the export holds ${key} more than once${constraint}; nothing was written`, { cause: err, hint: "the export's rows must be unique by the target's keys; the import was rolled back and the target is unchanged" });
}
