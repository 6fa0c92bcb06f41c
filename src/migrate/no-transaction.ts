import type { SqlStatement } from "./split.js";

/**
 * Statements PostgreSQL or SQLite refuse inside a transaction block. A migration holding one runs
 * statement by statement, outside a transaction, with a ledger (as if marked -- holdfast:no-transaction).
 */
const PG_RULES: { re: RegExp; what: string; before?: number }[] = [
  { re: /^CREATE (UNIQUE )?INDEX CONCURRENTLY\b/i, what: "CREATE INDEX CONCURRENTLY" },
  { re: /^DROP INDEX CONCURRENTLY\b/i, what: "DROP INDEX CONCURRENTLY" },
  { re: /^REINDEX\b.*\bCONCURRENTLY\b/i, what: "REINDEX CONCURRENTLY" },
  { re: /^VACUUM\b/i, what: "VACUUM" },
  { re: /^ALTER SYSTEM\b/i, what: "ALTER SYSTEM" },
  { re: /^(CREATE|DROP) DATABASE\b/i, what: "CREATE/DROP DATABASE" },
  { re: /^(CREATE|DROP) TABLESPACE\b/i, what: "CREATE/DROP TABLESPACE" },
  { re: /^ALTER TYPE\b.*\bADD VALUE\b/i, what: "ALTER TYPE … ADD VALUE (before PostgreSQL 12)", before: 120000 },
  { re: /^(CREATE|DROP) SUBSCRIPTION\b/i, what: "CREATE/DROP SUBSCRIPTION" },
];

const SQLITE_RULES: { re: RegExp; what: string }[] = [
  { re: /^VACUUM\b/i, what: "VACUUM" },
  { re: /^PRAGMA\s+(\w+\.)?(journal_mode|foreign_keys|page_size|auto_vacuum)\b/i, what: "PRAGMA outside a transaction" },
];

/** Why this statement cannot run in a transaction, or undefined. */
export function needsNoTransaction(stmt: SqlStatement, engine: "postgres" | "sqlite", versionNum: number): string | undefined {
  if (engine === "sqlite") return SQLITE_RULES.find((r) => r.re.test(stmt.bare))?.what;
  return PG_RULES.find((r) => r.re.test(stmt.bare) && (r.before === undefined || versionNum < r.before))?.what;
}

/** The index a CREATE INDEX CONCURRENTLY builds (schema-qualified only when the statement's table is). */
export function concurrentIndexName(stmt: SqlStatement): string | undefined {
  const m = /^CREATE (?:UNIQUE )?INDEX CONCURRENTLY (?:IF NOT EXISTS )?("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*) ON (?:ONLY )?("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\./i.exec(stmt.bare);
  const plain = /^CREATE (?:UNIQUE )?INDEX CONCURRENTLY (?:IF NOT EXISTS )?("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*) ON\b/i.exec(stmt.bare);
  if (!plain) return undefined;
  return m ? `${m[2]}.${m[1]}` : plain[1];
}
