import { HoldfastError } from "../errors.js";
import type { ExportColumn, ExportTable } from "./format.js";

/**
 * What an import writes, decided before anything is touched: per selected table the target table,
 * the columns (the export's non-generated ones, each present and writable in the target) and the
 * key rows are matched by (the target's primary key, or a unique key named with --key).
 */
export interface TablePlanInput {
  table: ExportTable;
  /** Present in the target (false: --create-schema creates it). */
  exists: boolean;
  columns: { from: ExportColumn; to: ExportColumn }[];
  key: string[];
}

/** Parse repeated --key 'table:col1,col2'. */
export function parseKeys(options: readonly string[]): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const option of options) {
    const colon = option.lastIndexOf(":");
    const table = colon > 0 ? option.slice(0, colon).trim() : "";
    const columns = colon > 0 ? option.slice(colon + 1).split(",").map((c) => c.trim()).filter(Boolean) : [];
    if (!table || columns.length === 0) throw new HoldfastError("USAGE", `--key must be 'table:col1,col2', got "${option}"`);
    if (keys.has(table)) throw new HoldfastError("USAGE", `--key names table ${table} twice`);
    keys.set(table, columns);
  }
  return keys;
}

const mismatch = (message: string, hint?: string) => new HoldfastError("IMPORT_SCHEMA_MISMATCH", message, hint ? { hint } : {});
const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));

function keyFor(exported: ExportTable, target: ExportTable, named: string[] | undefined, where: string): string[] {
  const unique = [...(target.primaryKey ? [target.primaryKey] : []), ...target.uniqueKeys.map((k) => k.columns)];
  if (named) {
    if (!unique.some((k) => sameSet(k, named))) throw mismatch(`--key ${target.name}:${named.join(",")} is not the primary key or a unique key of ${target.name} in ${where}`, unique.length ? `its keys: ${unique.map((k) => k.join(",")).join("; ")}` : "the table has no unique key");
    return unique.find((k) => sameSet(k, named))!;
  }
  if (!target.primaryKey?.length) throw mismatch(`${target.name} has no primary key in ${where}: rows cannot be matched`, `name a unique key with --key '${target.name}:col1,col2'`);
  const missing = target.primaryKey.filter((c) => !exported.columns.some((e) => e.name === c && !e.generated));
  if (missing.length) throw mismatch(`${target.name}: the export lacks the key column(s) ${missing.join(", ")} of ${where}`, `name another unique key with --key '${target.name}:…'`);
  return target.primaryKey;
}

/** Each selected table: present (or to be created), every exported column present and writable, a key. */
export function planInputs(selected: readonly ExportTable[], targetTables: readonly ExportTable[], keys: Map<string, string[]>, createSchema: boolean, where: string): TablePlanInput[] {
  const byName = new Map(targetTables.map((t) => [t.name, t]));
  for (const table of keys.keys()) {
    if (!selected.some((t) => t.name === table)) throw new HoldfastError("USAGE", `--key names table ${table}, which is not imported`);
  }
  return selected.map((exported) => {
    const found = byName.get(exported.name);
    if (!found && !createSchema) throw mismatch(`table ${exported.name} does not exist in ${where}`, "create it first, or pass --create-schema to create the missing tables from the export's schema");
    if (!found) {
      // A created table's foreign keys must point at a table the target has or gets.
      const dangling = exported.foreignKeys.find((fk) => !byName.has(fk.references.table) && !selected.some((t) => t.name === fk.references.table));
      if (dangling) throw mismatch(`${exported.name} would be created with a foreign key to ${dangling.references.table}, which is neither in ${where} nor imported`, `import ${dangling.references.table} too (--table), or create ${exported.name} yourself`);
    }
    const target = found ?? { ...exported, columns: exported.columns.filter((c) => !c.generated) };
    const columns = exported.columns.filter((c) => !c.generated).map((from) => {
      const to = target.columns.find((c) => c.name === from.name);
      if (!to) throw mismatch(`${exported.name}.${from.name} does not exist in ${where}`, "add the column to the target, or leave the table out with --exclude-table");
      if (to.generated) throw mismatch(`${exported.name}.${from.name} is a generated column in ${where}: it cannot be written`);
      return { from, to };
    });
    const key = keyFor(exported, target, keys.get(exported.name), where);
    const notCarried = key.filter((k) => !columns.some((c) => c.from.name === k));
    if (notCarried.length) throw mismatch(`${exported.name}: the key column(s) ${notCarried.join(", ")} are not in the export`);
    return { table: exported, exists: found !== undefined, columns, key };
  });
}
