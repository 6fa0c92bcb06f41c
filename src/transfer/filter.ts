import { HoldfastError } from "../errors.js";

/**
 * Which tables (and rows) an export reads: --table / --exclude-table globs over table names
 * ("users", "audit_*", "billing.*"; `*` any run of characters, `?` one), and --where
 * 'table: condition' (SQL in the source's own dialect, read inside the read-only snapshot).
 */
export interface ExportFilter {
  tables: string[];
  excludeTables: string[];
  /** Table name → SQL condition. */
  where: Record<string, string>;
}

export function globPattern(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/** Parse repeated --where 'table: condition' options. */
export function parseWhere(options: readonly string[]): Record<string, string> {
  const where: Record<string, string> = {};
  for (const option of options) {
    const colon = option.indexOf(":");
    const table = colon > 0 ? option.slice(0, colon).trim() : "";
    const condition = colon > 0 ? option.slice(colon + 1).trim() : "";
    if (!table || !condition) throw new HoldfastError("USAGE", `--where must be 'table: condition', got "${option}"`);
    if (where[table]) throw new HoldfastError("USAGE", `--where names table ${table} twice; join the conditions with AND`);
    where[table] = condition;
  }
  return where;
}

/** The tables of `all` the filter selects, in their order; a --where for an unselected table is refused. */
export function selectTables(all: readonly string[], filter: ExportFilter): string[] {
  const include = filter.tables.map(globPattern);
  const exclude = filter.excludeTables.map(globPattern);
  const chosen = all.filter((t) => (include.length === 0 || include.some((p) => p.test(t))) && !exclude.some((p) => p.test(t)));
  for (const table of Object.keys(filter.where)) {
    if (!chosen.includes(table)) throw new HoldfastError("USAGE", `--where names table ${table}, which is not exported${all.includes(table) ? " (filtered out)" : ""}`, { hint: `tables: ${all.join(", ") || "none"}` });
  }
  if (chosen.length === 0) throw new HoldfastError("USAGE", "no table matches the export's --table / --exclude-table filters", { hint: `tables: ${all.join(", ") || "none"}` });
  return chosen;
}

/** Parse --sensitive 'users.password_hash,tokens.*' into patterns over "table.column". */
export function sensitivePatterns(options: readonly string[]): RegExp[] {
  return options.flatMap((o) => o.split(",")).map((s) => s.trim()).filter(Boolean).map((s) => {
    if (!s.includes(".")) throw new HoldfastError("USAGE", `--sensitive takes table.column (globs allowed), got "${s}"`);
    return globPattern(s);
  });
}
