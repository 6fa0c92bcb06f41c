import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";

/** A real SQLite database with incompressible rows, sized roughly by rows × 200 bytes. */
export function createDatabase(path: string, rows: number, options: { wal?: boolean } = {}): void {
  const db = new Database(path);
  try {
    if (options.wal !== false) db.pragma("journal_mode = WAL");
    db.exec(`CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, body TEXT NOT NULL, n INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES items(id), tag TEXT);`);
    const insert = db.prepare("INSERT INTO items (body, n) VALUES (?, ?)");
    const tag = db.prepare("INSERT INTO tags (item_id, tag) VALUES (?, ?)");
    db.transaction(() => {
      for (let i = 0; i < rows; i++) {
        const info = insert.run(randomBytes(96).toString("base64"), i);
        if (i % 10 === 0) tag.run(info.lastInsertRowid, `t${i % 7}`);
      }
    })();
  } finally {
    db.close();
  }
}

export function countRows(path: string, table: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return Number(db.prepare(`SELECT count(*) FROM "${table}"`).pluck().get());
  } finally {
    db.close();
  }
}

export function integrity(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("PRAGMA integrity_check").pluck().all() as string[]).join("; ");
  } finally {
    db.close();
  }
}

/** Every row of a table, for exact comparisons. */
export function dumpTable(path: string, table: string): unknown[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT * FROM "${table}" ORDER BY rowid`).all();
  } finally {
    db.close();
  }
}
