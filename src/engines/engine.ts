import type { Readable } from "node:stream";
import type { AgeKeys } from "../pipeline/age.js";
import type { Manifest, TableFacts } from "../repository/manifest.js";
import type { WalArchive } from "../repository/wal-archive.js";
import type { WalCatalog } from "../repository/wal-catalog.js";
import type { EngineTraits } from "./kind.js";

/** What an engine learns about a database: recorded in the manifest, compared by deep verify. */
export interface SourceFacts {
  version: string;
  sizeBytes: number;
  tables: TableFacts[];
  details: Record<string, unknown>;
  /** Said at warn level by the backup command (e.g. SQLite in rollback-journal mode); not stored. */
  warnings?: string[];
}

export interface SnapshotFile {
  /** Logical name inside the backup ("database", "dump", "toc.dat", …). */
  name: string;
  /** Suffix describing the content before compression (".sqlite", ".pgdump", …). */
  extension: string;
  stream: Readable;
  /** Content size when known in advance (for progress and ETA). */
  size?: number;
}

export interface Snapshot {
  /**
   * Files in the order they should be stored; each stream is consumed before the next is asked for,
   * unless `parallel` says otherwise.
   */
  files: AsyncIterable<SnapshotFile>;
  /**
   * The streams are independent (files already complete on disk): up to this many may be stored at
   * once, the next asked for as soon as one is stored. Default 1.
   */
  parallel?: number;
  /** Facts taken inside the same snapshot as the data; settles after the files are consumed or sooner. */
  facts: Promise<SourceFacts>;
  /** Remove temporaries and release the source; safe to call twice and after failure. */
  dispose(): Promise<void>;
}

/** Gives a verified content stream of one stored file of the backup being restored. */
export type OpenBackupFile = (name: string) => Promise<Readable>;

export interface CheckReport {
  ok: boolean;
  problems: string[];
  tables: { name: string; expectedRows: number; actualRows: number | null; checksumMatches?: boolean }[];
  details: Record<string, unknown>;
}

export interface RestoreOutcome {
  target: string;
  /** Where the previous database was kept, for in-place restores. */
  safetyCopy?: string;
  check: CheckReport;
  /** Engine-specific facts of this restore (the recovery target reached, …), reported as they are. */
  details?: Record<string, unknown>;
  /** What was restored, in a phrase, when the engine says it better than "backup <id> of <source> to <target>". */
  headline?: string;
  /** Lines the user should read after the restore (where files went, how to start the server). */
  notes?: string[];
}

/** The few log calls an engine makes (a pino Logger fits). */
export interface EngineLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

/**
 * How a process the engine starts on its own (PostgreSQL's restore_command) reaches the same
 * repository: command-line settings and the files holding secrets, never the secrets themselves.
 */
export interface RepositoryAccess {
  /** The repository as configured (folder or URL). */
  repo?: string;
  configPath?: string;
  passphraseFile?: string;
  identityFile?: string;
  /** The passphrase reached this command only through HOLDFAST_PASSPHRASE: there is no file to hand on. */
  passphraseFromEnvironment: boolean;
}

/**
 * What some engines need of the repository beyond the backup's own files: the physical engine
 * waits for and reads the archived WAL, decrypts it, and points restore_command at the repository.
 * The command that opened the repository fills it in; engines that do not need it ignore it.
 */
export interface RepositoryContext {
  wal: WalArchive;
  /** Unlocked keys (absent when not needed or not given). */
  keys?: AgeKeys;
  access: RepositoryAccess;
  /** The archive's catalog, read once per command (verify --all and a drill ask for it per backup). */
  walCatalog(segmentSize?: number): Promise<WalCatalog>;
}

export interface OperationContext {
  signal?: AbortSignal;
  tempDir: string;
  /** Engine-specific options from flags/config (pg_dump format, jobs, filters, …); engines validate them. */
  options?: Record<string, unknown>;
  onProgress?: (stage: string, done: number, total?: number) => void;
  /** The id the backup being taken will have (pg_basebackup labels the backup with it). */
  backupId?: string;
  /** The repository the backup is stored in or restored from (see RepositoryContext). */
  repository?: RepositoryContext;
  log?: EngineLog;
}

export interface RestoreOptions extends OperationContext {
  inPlace: boolean;
  /** Scratch restores for deep verify: finish and return the failed checks instead of refusing. */
  reportOnly?: boolean;
}

/**
 * A kind of database. Every engine passes test/engines/engine-suite.ts: snapshot → restore →
 * check on real databases.
 */
export interface Engine<Ref> extends EngineTraits<Ref> {
  probe(ref: Ref, ctx: OperationContext): Promise<SourceFacts>;
  snapshot(ref: Ref, ctx: OperationContext): Promise<Snapshot>;
  restore(open: OpenBackupFile, manifest: Manifest, target: Ref, options: RestoreOptions): Promise<RestoreOutcome>;
  check(target: Ref, manifest: Manifest, ctx: OperationContext): Promise<CheckReport>;
  /** A throwaway target for deep verify (a file in dir, a temporary database); dispose removes it. */
  scratch(manifest: Manifest, dir: string, options: { server?: string }): Promise<{ ref: Ref; dispose(): Promise<void> }>;

  // Optional capabilities: an engine that lacks one behaves as the comment's default says.

  /**
   * `latest` for a restore: choose among one source's backups of this engine (oldest first), by
   * the restore's options (a point in time picks the newest backup before it). Default: the newest.
   */
  pickForRestore?(backups: Manifest[], options: Record<string, unknown> | undefined): Manifest;
  /** Part of verify: what the backup needs besides its own files is in the repository (throws VERIFY_FAILED). */
  verifyStored?(manifest: Manifest, repository: RepositoryContext): Promise<void>;
}

/** Compare recorded tables with what a restored database holds. Shared by every engine. */
export function compareTables(expected: TableFacts[], actual: TableFacts[]): Pick<CheckReport, "problems" | "tables"> {
  const problems: string[] = [];
  const byName = new Map(actual.map((t) => [t.name, t]));
  const tables = expected.map((t) => {
    const found = byName.get(t.name);
    if (!found) problems.push(`table ${t.name} is missing`);
    else if (found.rows !== t.rows) problems.push(`table ${t.name} has ${found.rows} rows, expected ${t.rows}`);
    let checksumMatches: boolean | undefined;
    if (found && t.checksum !== undefined && found.checksum !== undefined) {
      checksumMatches = found.checksum === t.checksum;
      if (!checksumMatches) problems.push(`table ${t.name} content checksum differs`);
    }
    return { name: t.name, expectedRows: t.rows, actualRows: found ? found.rows : null, checksumMatches };
  });
  const expectedNames = new Set(expected.map((t) => t.name));
  for (const t of actual) if (!expectedNames.has(t.name)) problems.push(`unexpected table ${t.name}`);
  return { problems, tables };
}
