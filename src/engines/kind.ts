import type { Manifest } from "../repository/manifest.js";
import type { Engine } from "./engine.js";

/**
 * What commands know of an engine without loading it: its name, how it reads and writes a source
 * string, and the traits catalog code asks about. None of this may import a database driver or
 * the engine's snapshot and restore code: `list`, `show` and `status` run on it alone.
 */
export interface EngineTraits<Ref> {
  readonly name: string;
  /** Parse a source/target string ("sqlite:./app.db") into a reference; throws USAGE when malformed. */
  parse(text: string): Ref;
  /** The string recorded in manifests and messages: credentials removed. */
  describe(ref: Ref): string;

  // Optional: an engine that lacks one behaves as the comment's default says.

  /** Backups of this engine lock apart from other engines' backups of the same source (default: one lock per source). */
  readonly lockSpace?: string;
  /** Its backups need the repository's WAL archive besides their own files (they are not copied offsite alone). */
  readonly usesWalArchive?: boolean;
  /** Replacing a database first takes a safety backup into the repository (else the engine keeps its own safety copy). */
  readonly safetyBackupInRepository?: boolean;
  /** What one of its targets is called in messages (default "database"). */
  readonly targetNoun?: string;
  /** The success line's account of a finished backup (default: each stored file with its size). */
  summarize?(manifest: Manifest): string;
  /** Whether a plain path (no scheme) names a target of this engine (a SQLite file, a data directory). */
  readonly pathTargets?: boolean;
}

/** An engine as the registry holds it: its traits, and the engine itself imported on first need. */
export interface EngineKind<Ref = unknown> extends EngineTraits<Ref> {
  load(): Promise<Engine<Ref>>;
}

export function engineKind<Ref>(traits: EngineTraits<Ref>, load: () => Promise<Engine<Ref>>): EngineKind<Ref> {
  let loading: Promise<Engine<Ref>> | undefined;
  return { ...traits, load: () => (loading ??= load()) };
}
