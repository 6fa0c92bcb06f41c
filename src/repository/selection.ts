import { HoldfastError } from "../errors.js";
import { compareBackupIds } from "./backup-id.js";
import { kindOf, type BackupKind, type Manifest } from "./manifest.js";

/**
 * Which backups a reference may mean. `latest` is the newest backup of one source and of the
 * wanted kinds (default: full backups only: never a safety, partial or schema-only backup); with
 * several sources in the repository and none named, it refuses and lists them.
 */
export interface Selection {
  /** manifest.source.uri (credentials removed) the backup must be of. */
  source?: string;
  /** Kinds `latest` may pick (default ["full"]); an explicit id may name any kind. */
  kinds?: readonly BackupKind[];
  /** Engines allowed (e.g. only physical base backups for a point-in-time restore). */
  engines?: readonly string[];
  /** What the selection is for, in messages ("restore", "verify", …). */
  purpose?: string;
}

export function sourceLabel(m: Manifest): string {
  return `${m.source.uri} (${m.engine})`;
}

/** The distinct sources among these backups, as `uri (engine)`, sorted. */
export function sourcesOf(backups: readonly Manifest[]): string[] {
  return [...new Set(backups.map(sourceLabel))].sort();
}

function matchesScope(m: Manifest, sel: Selection): boolean {
  return (!sel.source || m.source.uri === sel.source) && (!sel.engines || sel.engines.includes(m.engine));
}

/** Check an explicitly named backup against the selection (any kind may be named). */
export function assertSelected(m: Manifest, sel: Selection): Manifest {
  if (sel.source && m.source.uri !== sel.source) {
    throw new HoldfastError("USAGE", `backup ${m.id} is of ${m.source.uri}, not of ${sel.source}`, { hint: "name a backup of that source, or leave out --source" });
  }
  if (sel.engines && !sel.engines.includes(m.engine)) {
    throw new HoldfastError("ENGINE_MISMATCH", `backup ${m.id} is a ${m.engine} backup; ${sel.purpose ?? "this"} needs ${sel.engines.join(" or ")}`);
  }
  return m;
}

/** `latest` within the selection: the newest eligible backup of exactly one source. */
export function pickLatest(backups: readonly Manifest[], sel: Selection): Manifest {
  const kinds = sel.kinds ?? ["full"];
  const inScope = backups.filter((m) => matchesScope(m, sel));
  const eligible = inScope.filter((m) => kinds.includes(kindOf(m)));
  const sources = sourcesOf(eligible);
  if (!sel.source && sources.length > 1) {
    throw new HoldfastError("USAGE", `"latest" is ambiguous: the repository holds backups of ${sources.length} sources: ${sources.join(", ")}`, {
      hint: "say which with --source <uri> (or a database name from holdfast.yaml), or name a backup id",
    });
  }
  const last = newest(eligible);
  if (!last) {
    const what = `${kinds.join("/")} backup`;
    const other = inScope.length ? ` (there are ${inScope.length} backup(s) of other kinds: ${[...new Set(inScope.map(kindOf))].join(", ")})` : "";
    throw new HoldfastError("BACKUP_NOT_FOUND", `no ${what}${sel.source ? ` of ${sel.source}` : ""}${sel.engines ? ` (${sel.engines.join("/")})` : ""} in the repository${other}`, {
      hint: "take one with `holdfast backup`, or name a backup id (`holdfast list`)",
    });
  }
  return last;
}

/** Newest by start time, then id (ids of the same second carry -2, -3…). */
export function newest(backups: readonly Manifest[]): Manifest | undefined {
  let best: Manifest | undefined;
  for (const m of backups) if (!best || compareTaken(m, best) > 0) best = m;
  return best;
}

export function compareTaken(a: Manifest, b: Manifest): number {
  const t = Date.parse(a.startedAt) - Date.parse(b.startedAt);
  return t !== 0 ? t : compareBackupIds(a.id, b.id);
}
