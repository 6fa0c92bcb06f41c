import { randomBytes } from "node:crypto";
import type { Engine, SourceFacts } from "../engine.js";
import { connect, parsePgUrl, withDatabase, type PgRef } from "./connection.js";
import { postgresTraits } from "./logical-kind.js";
import { listTables, serverFacts, STABLE_TEXT_SETTINGS, tablesFacts } from "./facts.js";
import { adminConnection, checkPostgres, dropDatabase, restorePostgres } from "./restore.js";
import { snapshotPostgres } from "./snapshot.js";

/** PostgreSQL logical backups: pg_dump into the repository, pg_restore out of it. */
export const postgresEngine: Engine<PgRef> = {
  ...postgresTraits,

  async probe(ref: PgRef): Promise<SourceFacts> {
    const client = await connect(ref, "probe");
    try {
      await client.query(STABLE_TEXT_SETTINGS);
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const server = await serverFacts(client);
      const tables = await tablesFacts(client, await listTables(client), "checksums");
      await client.query("COMMIT");
      return { version: server.serverVersion, sizeBytes: server.databaseSizeBytes, tables, details: { ...server } };
    } finally {
      await client.end().catch(() => undefined);
    }
  },

  snapshot: snapshotPostgres,

  restore: restorePostgres,

  check(target, manifest) {
    return checkPostgres(target, manifest, { ignoreUnexpected: false, checksums: true });
  },

  /** A database created by the restore and dropped by dispose, on --scratch or the backup's own server. */
  async scratch(manifest, _dir, options) {
    const server = parsePgUrl(options.server ?? manifest.source.uri);
    const ref: PgRef = { ...withDatabase(server, `holdfast_verify_${randomBytes(5).toString("hex")}`), scratch: true };
    return {
      ref,
      async dispose() {
        const admin = await adminConnection(ref, "verify cleanup");
        try {
          await dropDatabase(admin, ref.database);
        } finally {
          await admin.end().catch(() => undefined);
        }
      },
    };
  },
};
