import Database from "better-sqlite3";
import { describeValue, PROBE_TABLE, truthy, type DrillProbe, type ProbeResult } from "./probe.js";

/** The drill's checks on a restored SQLite file. */
export function sqliteProbe(path: string): DrillProbe {
  const db = new Database(path, { fileMustExist: true });
  return {
    async writeProbe() {
      db.exec(`CREATE TABLE ${PROBE_TABLE} (id INTEGER PRIMARY KEY, note TEXT NOT NULL)`);
      try {
        db.prepare(`INSERT INTO ${PROBE_TABLE} (note) VALUES (?)`).run("drill");
        const back = db.prepare(`SELECT note FROM ${PROBE_TABLE}`).pluck().get();
        if (back !== "drill") throw new Error(`read back ${describeValue(back)} instead of the row written`);
      } finally {
        db.exec(`DROP TABLE IF EXISTS ${PROBE_TABLE}`);
      }
      return `created, wrote, read back and dropped ${PROBE_TABLE}`;
    },
    async sequences() {
      const hasCounters = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").get();
      if (!hasCounters) return [];
      const rows = db.prepare("SELECT name, seq FROM sqlite_sequence").all() as { name: string; seq: number }[];
      return rows.map(({ name, seq }): ProbeResult => {
        const max = Number(db.prepare(`SELECT coalesce(max(rowid), 0) FROM "${name.replace(/"/g, '""')}"`).pluck().get());
        return { name, ok: seq >= max, detail: `AUTOINCREMENT counter ${seq}, largest rowid ${max}` };
      });
    },
    async smoke(statements) {
      return statements.map((sql): ProbeResult => {
        try {
          const row = db.prepare(sql).raw(true).get() as unknown[] | undefined;
          return { name: sql, ok: row !== undefined && truthy(row[0]), detail: `returned ${describeValue(row?.[0])}` };
        } catch (err) {
          return { name: sql, ok: false, detail: `failed: ${(err as Error).message}` };
        }
      });
    },
    async close() {
      db.close();
    },
  };
}
