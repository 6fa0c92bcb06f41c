import { createHash } from "node:crypto";
import Database from "better-sqlite3";
import { foreignKeyProblems } from "../engines/sqlite/inspect.js";
import { assertSqliteFile } from "../engines/sqlite/source-file.js";
import { verdict } from "./checks-sql.js";
import { LOG_COLUMNS, recordValues, rowToRecord, UPGRADE_LOG_TABLE, type DatabaseState, type UpgradeRecord, type UpgradeTarget } from "./upgrade-target.js";

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** A SQLite file as an upgrade target. Connections are opened per step and closed before the runner runs. */
export async function sqliteTarget(path: string): Promise<UpgradeTarget> {
  await assertSqliteFile(path);
  const open = <T>(readonly: boolean, fn: (db: Database.Database) => T): T => {
    const db = new Database(path, { readonly, fileMustExist: true });
    try {
      db.pragma("busy_timeout = 10000");
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    kind: "sqlite",
    source: `sqlite:${path}`,
    sourceText: `sqlite:${path}`,
    async runnerEnv() {
      return { env: { DATABASE_URL: `sqlite:${path}`, HOLDFAST_DATABASE: path }, cleanup: async () => undefined };
    },
    async state() {
      return open(true, (db) => sqliteState(db));
    },
    async foreignKeys() {
      return { problems: open(true, (db) => foreignKeyProblems(db)), notes: [] };
    },
    async assert(assertions) {
      return open(true, (db) =>
        assertions.map((assertion) => {
          try {
            const rows = db.prepare(assertion.sql).raw(true).all() as unknown[][];
            return { assertion, ...verdict(rows) };
          } catch (err) {
            return { assertion, ok: false, detail: `failed: ${(err as Error).message}` };
          }
        }),
      );
    },
    async version(query) {
      return open(true, (db) => {
        if (query) {
          const v = db.prepare(query).raw(true).get() as unknown[] | undefined;
          return v?.[0] === null || v?.[0] === undefined ? undefined : String(v[0]);
        }
        const user = Number(db.pragma("user_version", { simple: true }));
        return user > 0 ? String(user) : undefined;
      });
    },
    log: {
      async ensure() {
        open(false, (db) => db.exec(`CREATE TABLE IF NOT EXISTS ${UPGRADE_LOG_TABLE} (run_id TEXT PRIMARY KEY, state TEXT NOT NULL, backup_id TEXT, runner TEXT NOT NULL,
          started_at TEXT NOT NULL, finished_at TEXT, pid INTEGER, host TEXT, detail TEXT)`));
      },
      async running() {
        return open(true, (db) => runningRows(db));
      },
      async claim(record) {
        return open(false, (db) => {
          db.exec("BEGIN IMMEDIATE");
          try {
            const other = runningRows(db)[0];
            if (!other) insert(db, record);
            db.exec("COMMIT");
            return other;
          } catch (err) {
            db.exec("ROLLBACK");
            throw err;
          }
        });
      },
      async write(record) {
        open(false, (db) => insert(db, record));
      },
    },
  };
}

function runningRows(db: Database.Database): UpgradeRecord[] {
  const exists = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(UPGRADE_LOG_TABLE);
  if (!exists) return [];
  return (db.prepare(`SELECT ${LOG_COLUMNS} FROM ${UPGRADE_LOG_TABLE} WHERE state = 'running' ORDER BY started_at`).all() as Record<string, unknown>[]).map(rowToRecord);
}

function insert(db: Database.Database, r: UpgradeRecord): void {
  db.prepare(
    `INSERT INTO ${UPGRADE_LOG_TABLE} (${LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (run_id) DO UPDATE SET state = excluded.state, backup_id = excluded.backup_id, finished_at = excluded.finished_at, detail = excluded.detail`,
  ).run(...recordValues(r));
}

/** sqlite_master and user_version as the schema; every table's rows hashed in storage order. */
export function sqliteState(db: Database.Database): DatabaseState {
  const objects = db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name").all() as { type: string; name: string; tbl_name: string; sql: string | null }[];
  const schema = [`user_version ${String(db.pragma("user_version", { simple: true }))}`, ...objects.map((o) => `${o.type} ${o.name} on ${o.tbl_name}: ${o.sql ?? ""}`)].join("\n");
  const tables = objects.filter((o) => o.type === "table" && !o.name.startsWith("sqlite_"));
  const definitions: Record<string, string> = {};
  const facts = tables.map((t) => {
    definitions[t.name] = t.sql ?? "";
    const hash = createHash("sha256");
    let rows = 0;
    const stmt = db.prepare(`SELECT * FROM ${quote(t.name)}`).raw(true).safeIntegers(true);
    for (const row of stmt.iterate() as IterableIterator<unknown[]>) {
      rows++;
      hash.update(JSON.stringify(row, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v)));
      hash.update("\n");
    }
    return { name: t.name, rows, checksum: `sha256:${hash.digest("hex")}` };
  });
  return { schema, tables: facts, definitions };
}
