import { HoldfastError } from "../../errors.js";
import type { TableRef } from "./facts.js";

/** Options of a logical backup (flags: --format, --jobs, --schema-only, --data-only, --table, --exclude-table). */
export interface DumpOptions {
  format: "custom" | "directory";
  jobs: number;
  schemaOnly: boolean;
  dataOnly: boolean;
  tables: string[];
  excludeTables: string[];
}

/** Options of a restore (flags: --jobs, --clean, --no-owner, --role, --terminate-timeout). */
export interface RestoreFlags {
  jobs: number;
  clean: boolean;
  noOwner: boolean;
  role?: string;
  terminateTimeoutMs: number;
  /** Compare content checksums after a restore --to (always done for --in-place and deep verify). */
  checksums: boolean;
  /** Id of the safety backup commands/restore.ts took before an in-place restore. */
  safetyBackupId?: string;
}

function list(value: unknown, name: string): string[] {
  if (value === undefined) return [];
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  throw new HoldfastError("USAGE", `${name} must be a table name or pattern`);
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new HoldfastError("USAGE", `${name} must be a whole number from 1 to 64, got "${String(value)}"`);
  return n;
}

export function dumpOptions(raw: Record<string, unknown> = {}): DumpOptions {
  const format = raw.format ?? "custom";
  if (format !== "custom" && format !== "directory") throw new HoldfastError("USAGE", `--format must be custom or directory, got "${String(format)}"`);
  const jobs = positive(raw.jobs, "--jobs", 1);
  if (jobs > 1 && format !== "directory") throw new HoldfastError("USAGE", "--jobs needs --format directory (pg_dump dumps in parallel only to a directory)");
  const schemaOnly = Boolean(raw.schemaOnly);
  const dataOnly = Boolean(raw.dataOnly);
  if (schemaOnly && dataOnly) throw new HoldfastError("USAGE", "--schema-only and --data-only exclude each other");
  return { format, jobs, schemaOnly, dataOnly, tables: list(raw.tables, "--table"), excludeTables: list(raw.excludeTables, "--exclude-table") };
}

export function restoreFlags(raw: Record<string, unknown> = {}): RestoreFlags {
  const timeout = raw.terminateTimeout === undefined ? 30_000 : Number(raw.terminateTimeout) * 1000;
  if (!Number.isFinite(timeout) || timeout < 0) throw new HoldfastError("USAGE", `--terminate-timeout must be seconds, got "${String(raw.terminateTimeout)}"`);
  if (raw.role !== undefined && typeof raw.role !== "string") throw new HoldfastError("USAGE", "--role must be a role name");
  return {
    jobs: positive(raw.jobs, "--jobs", 1),
    clean: Boolean(raw.clean),
    noOwner: Boolean(raw.noOwner),
    role: raw.role as string | undefined,
    terminateTimeoutMs: timeout,
    checksums: Boolean(raw.checksums),
    safetyBackupId: typeof raw.safetyBackupId === "string" ? raw.safetyBackupId : undefined,
  };
}

/** pg_dump's --table patterns (approximation: * and ?, unquoted lower-cased, unqualified = any schema). */
function patternMatcher(pattern: string): (t: TableRef) => boolean {
  const parts = pattern.match(/(?:"[^"]*"|[^."])+/g) ?? [pattern];
  const toRegex = (p: string): RegExp => {
    const quoted = p.startsWith('"') && p.endsWith('"');
    const body = quoted ? p.slice(1, -1) : p.toLowerCase();
    const escaped = body.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return new RegExp(`^${quoted ? body.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") : escaped}$`);
  };
  if (parts.length >= 2) {
    const schema = toRegex(parts[parts.length - 2]!);
    const name = toRegex(parts[parts.length - 1]!);
    return (t) => schema.test(t.schema) && name.test(t.name);
  }
  const name = toRegex(parts[0]!);
  return (t) => name.test(t.name);
}

/** The tables a dump with these filters holds data for. */
export function selectTables(all: TableRef[], options: DumpOptions): TableRef[] {
  const include = options.tables.map(patternMatcher);
  const exclude = options.excludeTables.map(patternMatcher);
  return all.filter((t) => (include.length === 0 || include.some((m) => m(t))) && !exclude.some((m) => m(t)));
}

/** pg_dump arguments for the options (connection comes from the environment, never argv). */
export function pgDumpArgs(options: DumpOptions, snapshotId: string, outputDir?: string): string[] {
  const args = ["--no-password", `--snapshot=${snapshotId}`, "--compress=0"];
  if (options.format === "directory") args.push("--format=directory", `--jobs=${options.jobs}`, `--file=${outputDir}`);
  else args.push("--format=custom");
  if (options.schemaOnly) args.push("--schema-only");
  if (options.dataOnly) args.push("--data-only");
  for (const t of options.tables) args.push(`--table=${t}`);
  for (const t of options.excludeTables) args.push(`--exclude-table=${t}`);
  return args;
}
