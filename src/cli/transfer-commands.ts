import { Command, Option } from "commander";
import type { ExportResult } from "../transfer/export.js";
import { parseWhere } from "../transfer/filter.js";
import { collect, prepare, printResult } from "./program.js";

function formatExport(r: ExportResult): string {
  const rows = r.manifest.tables.reduce((s, t) => s + t.rows, 0);
  const lines = [`export ${r.id ? `${r.id} (in the repository)` : `to ${r.file}`} of ${r.manifest.source.uri}: ${r.manifest.tables.length} table(s), ${rows} row(s)`];
  for (const t of r.manifest.tables) lines.push(`  ${t.name.padEnd(30)} ${String(t.rows).padStart(10)} rows ${String(t.bytes).padStart(12)} bytes${t.where ? `  where ${t.where}` : ""}`);
  if (r.manifest.sensitive) lines.push(`sealed columns: ${r.manifest.sensitive.columns.join(", ")}`);
  if (r.manifest.migrationVersion !== undefined) lines.push(`migration version: ${r.manifest.migrationVersion}`);
  return lines.join("\n");
}

/** export (import follows). */
export function registerTransferCommands(program: Command): void {
  program
    .command("export <source>")
    .description("export application data (one NDJSON stream per table, schema.json, manifest) into the repository or one file")
    .option("--table <glob>", "only tables matching (repeatable; * and ?)", collect)
    .option("--exclude-table <glob>", "leave tables matching out (repeatable)", collect)
    .option("--where <table: condition>", "only the rows of a table matching a SQL condition (repeatable)", collect)
    .option("--sensitive <columns>", "seal these columns' values with the repository key: 'users.password_hash,tokens.*' (repeatable)", collect)
    .option("--out <file>", "write one portable file (tar, zstd, age) instead of storing in the repository")
    .addOption(new Option("--encryption <mode>", "repository: encrypt to the repository's key; none: plaintext (sealed columns stay sealed)").choices(["repository", "none"]).default("repository"))
    .option("--json", "print the export manifest as JSON")
    .action(async (source: string, _o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const { exportData } = await import("../transfer/export.js");
      const result = await exportData(
        {
          source,
          settings,
          filter: { tables: (opts.table as string[] | undefined) ?? [], excludeTables: (opts.excludeTable as string[] | undefined) ?? [], where: parseWhere((opts.where as string[] | undefined) ?? []) },
          sensitive: (opts.sensitive as string[] | undefined) ?? [],
          encryption: opts.encryption as "none" | "repository",
          out: opts.out as string | undefined,
        },
        ctx,
      );
      printResult(opts, result, formatExport);
    });
}
