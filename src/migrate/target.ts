/**
 * A database migrations run against, whatever its engine. PostgreSQL (pg-target.ts) and SQLite
 * (sqlite-target.ts) implement it; the migrator (migrator.ts) only speaks through it.
 */
export type Row = Record<string, unknown>;

export interface SqlSession {
  /** One statement with `?` placeholders; rows as objects. */
  query<T = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  /** SQL text run as is (a migration's transactional body, or one statement). */
  exec(sql: string): Promise<void>;
}

export interface TimeoutOptions {
  /** How long a statement may wait for a lock held by another session (PostgreSQL lock_timeout). */
  lockTimeoutMs: number;
  /** How long one statement may run (0: no limit). */
  statementTimeoutMs: number;
  /** How long to wait for another migrator (the migrator lock) before refusing. */
  waitMs: number;
}

export interface MigrationTarget {
  readonly engine: "postgres" | "sqlite";
  /** The database as backups record it (engine.describe): the repository lock scope derives from it. */
  readonly uri: string;
  /** The history table as written in SQL (quoted, schema-qualified on PostgreSQL). */
  readonly historyTable: string;
  /** Who connects: the database user (PostgreSQL) or "-" (SQLite). */
  readonly dbUser: string;
  /** Server version number (PostgreSQL server_version_num, SQLite 3045001 style). */
  readonly versionNum: number;
  /** A transaction-pooling PgBouncer was detected or declared between us and the server. */
  readonly pooled: boolean;
  /** Read-only access outside any lock (status, plan). */
  read<T>(fn: (s: SqlSession) => Promise<T>): Promise<T>;
  /** One transaction holding the migrator lock: committed when fn resolves, rolled back when it throws. */
  transaction<T>(fn: (s: SqlSession) => Promise<T>, timeouts: TimeoutOptions): Promise<T>;
  /** The migrator lock held while fn runs statements that each commit on their own. */
  autocommit<T>(fn: (s: SqlSession) => Promise<T>, timeouts: TimeoutOptions): Promise<T>;
  /** Does this error mean "a lock was not granted within lock_timeout"? */
  isLockTimeout(err: unknown): boolean;
  close(): Promise<void>;
}
