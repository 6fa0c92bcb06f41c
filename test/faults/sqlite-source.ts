import { basename, join } from "node:path";
import Database from "better-sqlite3";
import { createDatabase, integrity } from "../support/sqlite.js";

/**
 * A real SQLite database that says which source it is (table `origin`), so a restore can be checked
 * against its own source's data and not just "some database".
 */
export function createSource(dir: string, name: string, rows: number): string {
  const path = join(dir, `${name}.db`);
  createDatabase(path, rows);
  const db = new Database(path);
  try {
    db.exec("CREATE TABLE origin (name TEXT NOT NULL)");
    db.prepare("INSERT INTO origin (name) VALUES (?)").run(name);
  } finally {
    db.close();
  }
  return path;
}

export interface SqliteFacts {
  integrity: string;
  origin: string;
  rows: Record<string, number>;
}

/** Integrity, origin and every table's row count of a database file (read-only). */
export function sqliteFacts(path: string): SqliteFacts {
  const check = integrity(path);
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[];
    const rows: Record<string, number> = {};
    for (const t of tables) rows[t] = Number(db.prepare(`SELECT count(*) FROM "${t}"`).pluck().get());
    const origin = tables.includes("origin") ? String(db.prepare("SELECT name FROM origin").pluck().get()) : "";
    return { integrity: check, origin, rows };
  } finally {
    db.close();
  }
}

/** The source name a sqlite: URI was created with by createSource. */
export function sourceName(uri: string): string {
  return basename(uri.replace(/^sqlite:/, "")).replace(/\.db$/, "");
}

/** Problems of a live database compared with what it held before a fault (rows may only grow). */
export function liveDamage(path: string, before: SqliteFacts): string[] {
  let now: SqliteFacts;
  try {
    now = sqliteFacts(path);
  } catch (err) {
    return [`live database ${path} unreadable: ${(err as Error).message}`];
  }
  const problems: string[] = [];
  if (now.integrity !== "ok") problems.push(`live database ${path}: integrity_check says ${now.integrity}`);
  if (now.origin !== before.origin) problems.push(`live database ${path}: origin ${now.origin} instead of ${before.origin}`);
  for (const [table, rows] of Object.entries(before.rows)) {
    if ((now.rows[table] ?? -1) < rows) problems.push(`live database ${path}: ${table} has ${now.rows[table]} rows, had ${rows}`);
  }
  return problems;
}
