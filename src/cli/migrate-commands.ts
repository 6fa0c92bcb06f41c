import { dirname, isAbsolute, resolve } from "node:path";
import { Command, Option } from "commander";
import { HoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { parseDurationFlag } from "../config/duration.js";
import type { MigrateOptions, Migration, MigrationTarget } from "../migrate/index.js";
import { prepare, printResult, type ActionOptions } from "./program.js";
import { formatDown, formatPlan, formatRepair, formatStatus, formatUp } from "./migrate-format.js";

/** holdfast migrate status | plan | up | down | repair <database>. */
export function registerMigrateCommands(program: Command): void {
  const migrate = program.command("migrate").description("apply SQL schema migrations (PostgreSQL, SQLite) under a lock, with a history table");
  const common = (cmd: Command): Command =>
    cmd
      .option("--dir <folder>", "migrations folder (default: migrations: of the database in holdfast.yaml, else ./migrations)")
      .option("--history-table <name>", "history table (PostgreSQL: schema.table)", "holdfast_schema_history")
      .option("--allow-gaps", "versions need not be consecutive (timestamp versions)")
      .option("--pgbouncer", "PostgreSQL is reached through PgBouncer in transaction mode (no-transaction migrations are refused)")
      .option("--json", "JSON output");
  const changing = (cmd: Command): Command =>
    common(cmd)
      .option("--to <version>", "stop at this version")
      .option("--allow-data-loss", "apply changes that discard data (DROP TABLE/COLUMN, TRUNCATE, narrowing types)")
      .option("--lock-timeout <duration>", "longest wait for a table lock held by another session, per attempt", "2s")
      .option("--lock-retries <n>", "attempts after the first when the lock timeout is reached", "3")
      .option("--statement-timeout <duration>", "longest a single statement may run (default: no limit)")
      .option("--wait <duration>", "longest wait for another migrator of the same database", "10m")
      .option("--lock-wait <duration>", "with a repository configured: longest wait for a running backup of the same database (default 0s: refuse)");

  common(migrate.command("status <database>").description("applied, pending, partly applied and drifted migrations")).action(
    action(async ({ target, migrations, m }) => m.migrateStatus(target, migrations), formatStatus),
  );
  common(migrate.command("plan <database>").description("what up would do, with the rows and bytes destructive changes would discard"))
    .option("--to <version>", "stop at this version")
    .addOption(new Option("--direction <direction>", "plan up or down").choices(["up", "down"]).default("up"))
    .action(action(async ({ target, migrations, opts, m }) => m.migratePlan(target, migrations, { to: version(opts.to), direction: opts.direction as "up" | "down" }), formatPlan));
  changing(migrate.command("up <database>").description("apply pending migrations (each in its own transaction)")).action(
    action(async ({ target, migrations, opts, settings, signal, m }) => m.withBackupExclusion(settings, target, "migrate up", () => m.migrateUp(target, migrations, migrateOptions(opts, m.DEFAULT_TIMEOUTS, signal)), signal), formatUp),
  );
  changing(migrate.command("down <database>").description("revert applied migrations with their down migrations (default: the last one)")).action(
    action(async ({ target, migrations, opts, settings, signal, m }) => m.withBackupExclusion(settings, target, "migrate down", () => m.migrateDown(target, migrations, migrateOptions(opts, m.DEFAULT_TIMEOUTS, signal)), signal), formatDown),
  );
  common(migrate.command("repair <database>").description("accept changed files of applied migrations: record the new checksums and why"))
    .requiredOption("--reason <text>", "why the applied migration's file changed (kept in the history)")
    .option("--lock-wait <duration>", "with a repository configured: longest wait for a running backup of the same database")
    .action(action(async ({ target, migrations, opts, settings, signal, m }) => m.withBackupExclusion(settings, target, "migrate repair", () => m.migrateRepair(target, migrations, { reason: String(opts.reason) }), signal), formatRepair));
}

interface Run {
  target: MigrationTarget;
  migrations: Migration[];
  opts: ActionOptions;
  settings: Settings;
  signal?: AbortSignal;
  /** The migrator, loaded when a migrate command runs rather than at start-up. */
  m: typeof import("../migrate/index.js");
}

function action<T>(fn: (run: Run) => Promise<T>, format: (result: T) => string) {
  return async (database: string, _o: unknown, cmd: Command): Promise<void> => {
    const { settings, ctx, opts } = await prepare(cmd);
    const m = await import("../migrate/index.js");
    const configured = settings.databases[database];
    const migrations = await m.loadMigrations(migrationsDir(opts.dir as string | undefined, configured?.migrations, settings), { allowGaps: Boolean(opts.allowGaps) });
    const target = await m.openMigrationTarget(configured?.source ?? database, { historyTable: opts.historyTable as string, pgbouncer: Boolean(opts.pgbouncer) });
    try {
      printResult(opts, await fn({ target, migrations, opts, settings, signal: ctx.signal, m }), format);
    } finally {
      await target.close();
    }
  };
}

export function migrationsDir(flag: string | undefined, configured: string | undefined, settings: Settings): string {
  if (flag) return resolve(flag);
  if (configured) return isAbsolute(configured) ? configured : resolve(settings.configPath ? dirname(resolve(settings.configPath)) : process.cwd(), configured);
  return resolve("migrations");
}

export function version(text: unknown): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(String(text)) || !Number.isSafeInteger(n)) throw new HoldfastError("USAGE", `--to expects a migration version number, got "${String(text)}"`);
  return n;
}

function migrateOptions(opts: ActionOptions, defaults: { statementTimeoutMs: number }, signal?: AbortSignal): MigrateOptions {
  const retries = Number(opts.lockRetries);
  if (!Number.isInteger(retries) || retries < 0 || retries > 100) throw new HoldfastError("USAGE", `--lock-retries expects 0..100, got "${String(opts.lockRetries)}"`);
  return {
    to: version(opts.to),
    allowDataLoss: Boolean(opts.allowDataLoss),
    lockRetries: retries,
    timeouts: {
      lockTimeoutMs: parseDurationFlag(String(opts.lockTimeout), "--lock-timeout", "2s or 500ms"),
      statementTimeoutMs: opts.statementTimeout === undefined ? defaults.statementTimeoutMs : parseDurationFlag(String(opts.statementTimeout), "--statement-timeout", "30s or 5m"),
      waitMs: parseDurationFlag(String(opts.wait), "--wait", "30s or 10m"),
    },
    signal,
  };
}
