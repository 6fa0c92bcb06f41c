import { setFlagsFromString } from "node:v8";
import { Command, Option } from "commander";
import type { ExportResult } from "../transfer/export.js";
import { parseWhere } from "../transfer/filter.js";
import { STRATEGIES, type Strategy } from "../transfer/target.js";
import { collect, prepare, printResult } from "./program.js";
import { keepYoungGenerationSmall } from "./young-generation.js";

/** Whether --to names a PostgreSQL database (an unreadable one is left for the import to refuse). The registry loads zod: not at start-up. */
async function isPostgresTarget(to: string | undefined): Promise<boolean> {
  if (to === undefined) return false;
  const { engineForTarget } = await import("../engines/registry.js");
  try {
    return engineForTarget(to).engine.name === "postgres";
  } catch {
    return false;
  }
}

function formatExport(r: ExportResult): string {
  const rows = r.manifest.tables.reduce((s, t) => s + t.rows, 0);
  const lines = [`export ${r.id ? `${r.id} (in the repository)` : `to ${r.file}`} of ${r.manifest.source.uri}: ${r.manifest.tables.length} table(s), ${rows} row(s)`];
  for (const t of r.manifest.tables) lines.push(`  ${t.name.padEnd(30)} ${String(t.rows).padStart(10)} rows ${String(t.bytes).padStart(12)} bytes${t.where ? `  where ${t.where}` : ""}`);
  if (r.manifest.sensitive) lines.push(`sealed columns: ${r.manifest.sensitive.columns.join(", ")}`);
  if (r.manifest.migrationVersion !== undefined) lines.push(`migration version: ${r.manifest.migrationVersion}`);
  return lines.join("\n");
}

/** export and import. */
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
      // As for import: rows and their bytes stream through; a size-first heap keeps export under its
      // 150 MB budget (measured at 300k rows: peak RSS 20-50 MB lower; SQLite exports spend ~15% more CPU in GC).
      setFlagsFromString("--optimize-for-size");
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

  const list = (v: unknown) => (v as string[] | undefined) ?? [];
  program
    .command("import <export>")
    .description("import an export (file or repository id) into a database: a plan first, then one transaction by strategy")
    .requiredOption("--to <target>", "the database to import into: a SQLite path, sqlite:… or postgres://…")
    .addOption(new Option("--strategy <strategy>", "rows whose key exists: skip keeps the target's, overwrite replaces, merge updates the exported columns, fail stops").choices([...STRATEGIES]).makeOptionMandatory())
    .option("--table <glob>", "only tables matching (repeatable; * and ?)", collect)
    .option("--exclude-table <glob>", "leave tables matching out (repeatable)", collect)
    .option("--key <table:columns>", "match a table's rows by this unique key of the target instead of its primary key (repeatable)", collect)
    .option("--dry-run", "print the plan and change nothing")
    .option("--plan-out <file>", "write the plan (JSON) and change nothing")
    .option("--plan <file>", "apply this plan; refused if the export, the strategy or the target changed since")
    .option("--backup-first", "take a full backup of the target into the repository before writing")
    .option("--create-schema", "create the selected tables the target lacks from the export's schema")
    .option("--strict", "stop at the first value that cannot convert instead of writing it to the reject file")
    .option("--rejects <file>", "where rows that cannot convert go (default: <target name>.rejects.ndjson here)")
    .option("--json", "print the plan and report as JSON")
    .action(async (source: string, o: { to?: string }, cmd: Command) => {
      // Into PostgreSQL, rows go from the export's bytes to COPY text with little garbage
      // (ndjson-copy.ts): a young generation kept at its first size holds memory down (1 M rows:
      // 115 instead of 133 MB) at no cost, where size-first would nearly triple the CPU. Into SQLite
      // every value is a JavaScript value: V8's default, throughput-first heap growth lets garbage
      // pile up past the 150 MB budget on large tables, so that import runs size-first (docs/export-import.md).
      if (await isPostgresTarget(o.to)) keepYoungGenerationSmall();
      else setFlagsFromString("--optimize-for-size");
      const { settings, ctx, opts } = await prepare(cmd);
      const [{ importData }, { formatImport }] = await Promise.all([import("../transfer/import.js"), import("./import-format.js")]);
      const result = await importData(
        {
          export: source,
          to: opts.to as string,
          settings,
          tables: list(opts.table),
          excludeTables: list(opts.excludeTable),
          keys: list(opts.key),
          strategy: opts.strategy as Strategy,
          dryRun: Boolean(opts.dryRun),
          planOut: opts.planOut as string | undefined,
          plan: opts.plan as string | undefined,
          backupFirst: Boolean(opts.backupFirst),
          createSchema: Boolean(opts.createSchema),
          strict: Boolean(opts.strict),
          rejects: opts.rejects as string | undefined,
        },
        ctx,
      );
      printResult(opts, result, formatImport);
    });
}
