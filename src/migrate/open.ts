import { HoldfastError } from "../errors.js";
import { engineForTarget } from "../engines/registry.js";
import type { PgRef } from "../engines/postgres/connection.js";
import type { SqliteRef } from "../engines/sqlite/engine.js";
import { DEFAULT_HISTORY_TABLE } from "./history.js";
import { openPgTarget } from "./pg-target.js";
import { openSqliteTarget } from "./sqlite-target.js";
import type { MigrationTarget } from "./target.js";

export interface OpenTargetOptions {
  /** History table name (PostgreSQL: schema.table); default holdfast_schema_history (in public). */
  historyTable?: string;
  /** A PgBouncer in transaction mode sits in front of the server (no-transaction migrations are refused). */
  pgbouncer?: boolean;
}

/**
 * A migration target from a source string: postgres://…, host=… dbname=…, sqlite:./app.db or a
 * plain SQLite path (a missing SQLite file is created: a fresh install starts from nothing).
 */
export async function openMigrationTarget(source: string, options: OpenTargetOptions = {}): Promise<MigrationTarget> {
  const { engine, ref } = engineForTarget(source);
  const historyTable = options.historyTable ?? DEFAULT_HISTORY_TABLE;
  if (engine.name === "postgres") return openPgTarget(ref as PgRef, { historyTable, pgbouncer: options.pgbouncer });
  if (engine.name === "sqlite") return openSqliteTarget((ref as SqliteRef).path, historyTable);
  throw new HoldfastError("USAGE", `migrations run against PostgreSQL or SQLite databases, not ${engine.name} sources ("${source}")`);
}
