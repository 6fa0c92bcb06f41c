import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { PgCluster } from "./pg-cluster.js";
import { tableNames } from "./pg-data.js";

const exec = promisify(execFile);

/** What "the database is byte-for-byte as it was" is checked against: schema text and per-table content. */
export interface DatabaseState {
  schema: string;
  tables: Record<string, string>;
}

/**
 * `pg_dump --schema-only` text and, for every table, the md5 of its rows' text in a fixed order
 * (computed by the server, independently of Holdfast's own checksums).
 */
export async function databaseState(cluster: PgCluster, db: string): Promise<DatabaseState> {
  const { stdout } = await exec(join(cluster.binDir, "pg_dump"), ["--schema-only", "--no-password", "--restrict-key=holdfasttest", "-h", cluster.socketDir, "-p", String(cluster.port), "-U", cluster.superuser, db], {
    maxBuffer: 64 << 20,
  });
  const tables: Record<string, string> = {};
  for (const t of await tableNames(cluster, db)) {
    const rows = await cluster.query<{ n: string; f: string }>(
      `SET TimeZone = 'UTC'; SELECT count(*)::text AS n, md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS f FROM ${t} t`,
      db,
    );
    tables[t] = `${rows[0]!.n}:${rows[0]!.f}`;
  }
  return { schema: stdout, tables };
}
