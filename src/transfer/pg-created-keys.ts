import type pg from "pg";

/**
 * Foreign keys between tables this import created (--create-schema): they exist from the start,
 * so the plan and the orphan check see them, but while the rows are written they are lifted and
 * added back just before COMMIT. Adding a foreign key checks every row in one join; a deferred
 * one is checked row by row at COMMIT. The tables are new in this transaction (no one else sees
 * them), and the key is in place, checked, when the transaction commits — or nothing is.
 * Keys whose parent table already existed stay as they are (adding one would lock that table).
 */
export class CreatedForeignKeys {
  private created = new Set<string>();
  private lifted: string[] = [];

  /** Tables (quoted relations) created in this transaction. */
  add(relations: Iterable<string>): void {
    for (const r of relations) this.created.add(r);
  }

  /** Drops the foreign keys between created tables, remembering how to add each back. */
  async lift(client: pg.Client): Promise<void> {
    if (this.created.size === 0 || this.lifted.length) return;
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
      this.lifted.push(`ALTER TABLE ${r.child} ADD CONSTRAINT ${r.name} ${r.def}`);
    }
  }

  /** Adds the lifted keys back (each checks every row); a violation throws (23503). */
  async restore(client: pg.Client): Promise<void> {
    for (const sql of this.lifted.splice(0)) await client.query(sql);
  }

  /** After COMMIT or ROLLBACK: nothing is pending any more. */
  reset(): void {
    this.created.clear();
    this.lifted = [];
  }
}
