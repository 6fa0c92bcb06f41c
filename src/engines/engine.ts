import type { Readable } from "node:stream";
import type { Manifest, TableFacts } from "../repository/manifest.js";

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
  /** Files in the order they should be stored; each stream is consumed before the next is asked for. */
  files: AsyncIterable<SnapshotFile>;
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
}

export interface OperationContext {
  signal?: AbortSignal;
  tempDir: string;
  /** Engine-specific options from flags/config (pg_dump format, jobs, filters, …); engines validate them. */
  options?: Record<string, unknown>;
  onProgress?: (stage: string, done: number, total?: number) => void;
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
export interface Engine<Ref> {
  readonly name: string;
  /** Parse a source/target string ("sqlite:./app.db") into a reference; throws USAGE when malformed. */
  parse(text: string): Ref;
  /** The string recorded in manifests and messages: credentials removed. */
  describe(ref: Ref): string;
  probe(ref: Ref, ctx: OperationContext): Promise<SourceFacts>;
  snapshot(ref: Ref, ctx: OperationContext): Promise<Snapshot>;
  restore(open: OpenBackupFile, manifest: Manifest, target: Ref, options: RestoreOptions): Promise<RestoreOutcome>;
  check(target: Ref, manifest: Manifest, ctx: OperationContext): Promise<CheckReport>;
  /** A throwaway target for deep verify (a file in dir, a temporary database); dispose removes it. */
  scratch(manifest: Manifest, dir: string, options: { server?: string }): Promise<{ ref: Ref; dispose(): Promise<void> }>;
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
