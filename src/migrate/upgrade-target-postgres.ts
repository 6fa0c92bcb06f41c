import type pg from "pg";
import { connect, describePg, parsePgUrl, toolEnvironment, type PgRef } from "../engines/postgres/connection.js";
import { listTables, serverFacts, STABLE_TEXT_SETTINGS, tablesFacts } from "../engines/postgres/facts.js";
import { findTool, runTool, toolFailure } from "../engines/postgres/tools.js";
import { verdict } from "./checks-sql.js";
import { foreignKeyCheck } from "./checks-postgres.js";
import { LOG_COLUMNS, recordValues, rowToRecord, UPGRADE_LOG_TABLE, type DatabaseState, type UpgradeRecord, type UpgradeTarget } from "./upgrade-target.js";

const LOG = `public.${UPGRADE_LOG_TABLE}`;

/** A PostgreSQL database as an upgrade target (logical: pg_dump/pg_restore). */
export function postgresTarget(from: string | PgRef, tempDir: string): UpgradeTarget {
  const ref = typeof from === "string" ? parsePgUrl(from) : from;
  const sourceText = typeof from === "string" ? from : urlOf(ref);
  const source = describePg(ref);
  const withClient = async <T>(purpose: string, fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const client = await connect(ref, purpose);
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  return {
    kind: "postgres",
    source,
    sourceText,
    async runnerEnv(tempDir) {
      const tool = await toolEnvironment(ref, tempDir);
      const env: Record<string, string> = { DATABASE_URL: sourceText, HOLDFAST_DATABASE: sourceText };
      for (const key of ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSFILE", "PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"]) if (tool.env[key]) env[key] = tool.env[key];
      return { env, cleanup: tool.cleanup };
    },
    async state(signal) {
      const schema = await schemaDump(ref, tempDir, signal);
      return withClient("upgrade state", async (client) => {
        await client.query(STABLE_TEXT_SETTINGS);
        await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        const tables = await tablesFacts(client, await listTables(client), "checksums");
        const defs = await client.query<{ name: string; def: string }>(`
          SELECT n.nspname || '.' || c.relname AS name,
                 string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                            || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum) AS def
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
          WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          GROUP BY 1`);
        await client.query("COMMIT");
        return { schema, tables, definitions: Object.fromEntries(defs.rows.map((r) => [r.name, r.def])) } satisfies DatabaseState;
      });
    },
    async foreignKeys() {
      return withClient("upgrade checks", (client) => foreignKeyCheck(client));
    },
    async assert(assertions) {
      return withClient("upgrade checks", async (client) => {
        const out = [];
        for (const assertion of assertions) {
          try {
            await client.query("BEGIN READ ONLY");
            const result = await client.query({ text: assertion.sql, rowMode: "array" });
            const last = Array.isArray(result) ? (result.at(-1) as pg.QueryResult) : result;
            out.push({ assertion, ...verdict(last.rows as unknown[][]) });
          } catch (err) {
            out.push({ assertion, ok: false, detail: `failed: ${(err as Error).message}` });
          } finally {
            await client.query("ROLLBACK").catch(() => undefined);
          }
        }
        return out;
      });
    },
    async version(query) {
      return withClient("upgrade version", async (client) => {
        if (query) {
          const { rows } = await client.query<unknown[]>({ text: query, rowMode: "array" });
          const v = rows[0]?.[0];
          return v === null || v === undefined ? undefined : String(v);
        }
        await client.query("BEGIN READ ONLY");
        try {
          return (await serverFacts(client)).migrationVersion?.version;
        } finally {
          await client.query("ROLLBACK").catch(() => undefined);
        }
      });
    },
    log: {
      async ensure() {
        await withClient("upgrade log", async (client) => {
          await client.query(`CREATE TABLE IF NOT EXISTS ${LOG} (run_id text PRIMARY KEY, state text NOT NULL, backup_id text, runner text NOT NULL,
            started_at timestamptz NOT NULL, finished_at timestamptz, pid integer, host text, detail text)`);
        });
      },
      async running() {
        return withClient("upgrade log", (client) => runningRows(client));
      },
      async claim(record) {
        return withClient("upgrade log", async (client) => {
          await client.query("BEGIN");
          try {
            await client.query(`LOCK TABLE ${LOG} IN SHARE ROW EXCLUSIVE MODE`);
            const other = (await runningRows(client))[0];
            if (!other) await insert(client, record);
            await client.query("COMMIT");
            return other;
          } catch (err) {
            await client.query("ROLLBACK").catch(() => undefined);
            throw err;
          }
        });
      },
      async write(record) {
        await withClient("upgrade log", (client) => insert(client, record));
      },
    },
  };
}

/** A URL for a runner's DATABASE_URL, password included (it travels in the environment only). */
function urlOf(ref: PgRef): string {
  const url = describePg(ref);
  if (!ref.password || !ref.user) return url;
  return url.replace(/^postgres:\/\/([^@/]*)@/, (_m, user: string) => `postgres://${user}:${encodeURIComponent(ref.password!)}@`);
}

async function runningRows(client: pg.Client): Promise<UpgradeRecord[]> {
  const exists = await client.query("SELECT to_regclass($1) IS NOT NULL AS e", [LOG]);
  if (!exists.rows[0]?.e) return [];
  const { rows } = await client.query<Record<string, unknown>>(`SELECT ${LOG_COLUMNS} FROM ${LOG} WHERE state = 'running' ORDER BY started_at`);
  return rows.map(rowToRecord);
}

async function insert(client: pg.Client, r: UpgradeRecord): Promise<void> {
  await client.query(
    `INSERT INTO ${LOG} (${LOG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (run_id) DO UPDATE SET state = excluded.state, backup_id = excluded.backup_id, finished_at = excluded.finished_at, detail = excluded.detail`,
    recordValues(r),
  );
}

/**
 * pg_dump --schema-only, normalised: comments, blank lines and the per-dump \restrict key removed,
 * so two dumps of the same schema compare equal.
 */
async function schemaDump(ref: PgRef, tempDir: string, signal?: AbortSignal): Promise<string> {
  const tool = await toolEnvironment(ref, tempDir);
  try {
    const r = await runTool(findTool("pg_dump"), ["--schema-only"], { env: tool.env, signal });
    if (r.code !== 0) throw toolFailure("pg_dump", r.code, r.stderr, describePg(ref));
    return r.stdout
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("--") && !/^\\(un)?restrict /.test(l))
      .join("\n");
  } finally {
    await tool.cleanup();
  }
}
