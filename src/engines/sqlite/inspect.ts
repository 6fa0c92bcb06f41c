import Database from "better-sqlite3";
import type { TableFacts } from "../../repository/manifest.js";

/** Facts and checks on an open SQLite database; used on snapshots and on restored files. */
export function tableFacts(db: Database.Database): TableFacts[] {
  const names = db
    .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[];
  return names.map((name) => ({
    name,
    rows: Number(db.prepare(`SELECT count(*) FROM "${name.replace(/"/g, '""')}"`).pluck().get()),
  }));
}

/** "ok", or the problems integrity_check reports (first 20). */
export function integrityCheck(db: Database.Database): string {
  const rows = db.prepare("PRAGMA integrity_check(20)").pluck().all() as string[];
  return rows.join("; ");
}

export function foreignKeyProblems(db: Database.Database): string[] {
  const rows = db.prepare("PRAGMA foreign_key_check").all() as { table: string; rowid: number; parent: string }[];
  return rows.slice(0, 20).map((r) => `foreign key violation in ${r.table} row ${r.rowid} (parent ${r.parent})`);
}

export function sqliteDetails(db: Database.Database): Record<string, unknown> {
  return {
    pageSize: Number(db.pragma("page_size", { simple: true })),
    pageCount: Number(db.pragma("page_count", { simple: true })),
    journalMode: String(db.pragma("journal_mode", { simple: true })),
    userVersion: Number(db.pragma("user_version", { simple: true })),
  };
}

export function sqliteVersion(db: Database.Database): string {
  return String(db.prepare("SELECT sqlite_version()").pluck().get());
}
