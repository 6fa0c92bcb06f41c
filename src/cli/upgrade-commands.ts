import { Command, Option } from "commander";
import { HoldfastError } from "../errors.js";
import { parseDurationFlag } from "../config/duration.js";
import type { UpgradeReport } from "../migrate/report.js";
import type { UpgradeRequest } from "../migrate/upgrade.js";
import type { UpgradeTestReport } from "../migrate/upgrade-test.js";
import type { Settings } from "../config/load.js";
import { migrationsDir, version } from "./migrate-commands.js";
import { abort, collect, prepare, printResult } from "./program.js";
import { seconds } from "./text.js";

/** upgrade (backup first, migrate, check, roll back by itself) and upgrade-test (the same on a scratch copy). */
export function registerUpgradeCommands(program: Command): void {
  const upgradeCmd = program
    .command("upgrade <database>")
    .description("upgrade a database safely: verified backup first, then the migrations, then the checks; on any failure restore the backup in place and prove the database is as before");
  checkFlags(upgradeCmd)
    .addOption(new Option("--rollback <mode>", "on failure: restore the pre-upgrade backup in place; down: revert by the down migrations (--migrations), restoring when that is not possible; none: leave it as it failed").choices(["restore", "down", "none"]).default("restore"))
    .option("--required-stop <version>", "a version no upgrade may skip (repeatable)", collect)
    .option("--to <version>", "the version this upgrade goes to (for required stops)")
    .option("--version-query <sql>", "SQL returning the application's current migration version (default: alembic/flyway/prisma/… tables; SQLite user_version)")
    .option("--abandon-unfinished", "mark an earlier upgrade that never finished (its process was killed) abandoned and go on")
    .addOption(new Option("--rollback-point <kind>", "the way back taken before migrating: backup (a full logical backup) or restore-point (PostgreSQL archiving WAL into the repository: a named restore point; going back restores the whole cluster, by itself only with --pgdata)").choices(["backup", "restore-point"]).default("backup"))
    .option("--whole-cluster", "with --rollback-point restore-point: go on although other databases share the cluster (going back takes them back too)")
    .option("--pgdata <data directory>", "with --rollback-point restore-point: the server's data directory; on failure stop the server, restore it to the restore point in place (the failed directory kept aside), start it and prove it")
    .option("--terminate-timeout <seconds>", "PostgreSQL rollback: wait this long for connections to close before terminating them", "30")
    .option("--json", "the report as JSON")
    .action(async (database: string, _o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      interruptsRollBack(ctx.log);
      const { upgrade } = await import("../migrate/upgrade.js");
      const report = await upgrade(
        {
          database,
          settings,
          ...(await runnerFrom(opts, settings, database, opts.to)),
          checksFile: opts.checks as string | undefined,
          checks: checksFrom(opts),
          rollback: opts.rollback as UpgradeRequest["rollback"],
          requiredStops: (opts.requiredStop as string[] | undefined) ?? [],
          to: opts.to as string | undefined,
          versionQuery: opts.versionQuery as string | undefined,
          abandonUnfinished: Boolean(opts.abandonUnfinished),
          restoreOptions: { terminateTimeout: opts.terminateTimeout },
          rollbackPoint: opts.rollbackPoint as UpgradeRequest["rollbackPoint"],
          wholeCluster: Boolean(opts.wholeCluster),
          pgdata: opts.pgdata as string | undefined,
        },
        ctx,
      );
      printResult(opts, report, formatUpgrade);
      failOn(report);
    });

  const testCmd = program
    .command("upgrade-test")
    .description("rehearse an upgrade on a copy: restore a backup (or copy a SQLite file) into a scratch database, run the migrations and the checks, drop the scratch; exits 16 on any failure")
    .requiredOption("--from <backup or file>", "a backup id (or latest) in the repository, or a SQLite file");
  checkFlags(testCmd)
    .option("--source <source>", "which database `--from latest` means (needed when the repository holds several)")
    .option("--scratch <server>", "PostgreSQL server for the scratch database (default: the backup's own server)")
    .option("--no-round-trip", "with --migrations: skip the second rehearsal (one version at a time, up → down → up, schemas compared)")
    .option("--json", "the report as JSON")
    .action(async (_o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const { upgradeTest } = await import("../migrate/upgrade-test.js");
      const report = await upgradeTest(
        { from: String(opts.from), settings, ...(await runnerFrom(opts, settings, opts.source as string | undefined)), noRoundTrip: opts.roundTrip === false, checksFile: opts.checks as string | undefined, checks: checksFrom(opts), source: opts.source as string | undefined, scratchServer: opts.scratch as string | undefined },
        ctx,
      );
      printResult(opts, report, formatUpgradeTest);
      if (!report.ok) throw new HoldfastError("VERIFY_FAILED", `upgrade-test from ${report.from} failed at ${report.failure?.step}: ${report.failure?.message}`);
    });
}

/** The runner and the checks, shared by upgrade and upgrade-test. */
function checkFlags(cmd: Command): Command {
  return cmd
    .option("--run <command>", "the command that applies the migrations (e.g. \"alembic upgrade head\"); it gets the database in DATABASE_URL / HOLDFAST_DATABASE (and PG* for psql)")
    .option("--migrations <folder>", "apply Holdfast's own SQL migrations from this folder instead of --run (default: migrations: of the database in holdfast.yaml)")
    .option("--history-table <name>", "with --migrations: the history table (PostgreSQL: schema.table)", "holdfast_schema_history")
    .option("--allow-gaps", "with --migrations: versions need not be consecutive")
    .option("--allow-data-loss", "with --migrations: apply changes that discard data (DROP TABLE/COLUMN, TRUNCATE, narrowing types)")
    .option("--checks <file>", "SQL assertions: each statement must return a row whose first column is true (see docs/upgrades.md)")
    .option("--touches <table>", "a table the migrations change rows of without changing its columns (a backfill); repeatable", collect)
    .option("--no-row-check", "do not require tables the migrations did not touch to keep their rows and checksums")
    .option("--no-fk-check", "do not check foreign keys")
    .option("--health-url <url>", "after migrating, this URL must answer 200")
    .option("--health-tries <n>", "how many times to ask the health URL", "10")
    .option("--health-interval <duration>", "pause between health tries", "1s")
    .option("--health-timeout <duration>", "each health try's time limit", "5s");
}

/**
 * The runner: --run (an external command) or --migrations (Holdfast's own migrator), exactly one;
 * with neither, the migrations folder holdfast.yaml gives the database.
 */
async function runnerFrom(opts: Record<string, unknown>, settings: Settings, database: string | undefined, to?: unknown): Promise<Pick<UpgradeRequest, "runner" | "migrations">> {
  const configured = database === undefined ? undefined : settings.databases[database]?.migrations;
  if (opts.run !== undefined && opts.migrations !== undefined) throw new HoldfastError("USAGE", "give either --run or --migrations, not both");
  if (opts.run !== undefined) {
    const { externalRunner } = await import("../migrate/upgrade-runner.js");
    return { runner: (_target, env) => externalRunner(String(opts.run), env) };
  }
  if (opts.migrations === undefined && configured === undefined) throw new HoldfastError("USAGE", "nothing to run: give --run \"<command>\" or --migrations <folder>", { hint: "or set migrations: for the database in holdfast.yaml" });
  const dir = migrationsDir(opts.migrations as string | undefined, configured, settings);
  const [{ loadMigrations }, { ownMigrations }] = await Promise.all([import("../migrate/files.js"), import("../migrate/upgrade-runner-holdfast.js")]);
  const list = await loadMigrations(dir, { allowGaps: Boolean(opts.allowGaps) });
  const own = ownMigrations(list, { dir, to: version(to), historyTable: opts.historyTable as string, allowDataLoss: Boolean(opts.allowDataLoss) });
  return { runner: own.runner, migrations: own };
}

function checksFrom(opts: Record<string, unknown>): UpgradeRequest["checks"] {
  return {
    touches: (opts.touches as string[] | undefined) ?? [],
    rows: opts.rowCheck !== false,
    foreignKeys: opts.fkCheck !== false,
    health: opts.healthUrl
      ? {
          url: String(opts.healthUrl),
          tries: positive(opts.healthTries, "--health-tries"),
          intervalMs: parseDurationFlag(String(opts.healthInterval), "--health-interval", "1s"),
          timeoutMs: parseDurationFlag(String(opts.healthTimeout), "--health-timeout", "5s"),
        }
      : undefined,
  };
}

/** The exit status of a finished upgrade: 0, UPGRADE_ROLLED_BACK or UPGRADE_FAILED. */
export function failOn(report: UpgradeReport): void {
  if (report.finalState === "upgraded") return;
  const what = `${report.failure?.step ?? "upgrade"} failed: ${report.failure?.message ?? "unknown"}`;
  if (report.finalState === "rolled-back") throw new HoldfastError("UPGRADE_ROLLED_BACK", `upgrade of ${report.database} rolled back: ${what}`, { hint: `the database is as it was before (${report.rollback.by === "restore-point" ? `restore point ${report.restorePoint?.name}` : `backup ${report.backupId}`}); fix the cause and run upgrade again` });
  const point = report.restorePoint;
  const kept = report.rollback.safetyCopy ? `; the data directory as the failure left it is kept at ${report.rollback.safetyCopy}` : "";
  const hint = point ? `the way back is a point-in-time restore of the whole cluster to restore point ${point.name}: \`${point.restoreCommand}\`, then run PostgreSQL on that data directory instead${kept}` : report.backupId ? `the pre-upgrade backup is ${report.backupId}: \`holdfast restore ${report.backupId} --in-place\` puts the database back as it was` : undefined;
  throw new HoldfastError("UPGRADE_FAILED", `upgrade of ${report.database} failed and the database was not put back: ${what}${report.rollback.error ? `; rollback: ${report.rollback.error}` : ""}`, { hint });
}

const mark = (ok: boolean) => (ok ? "ok  " : "FAIL");

function stepsAndChecks(r: Pick<UpgradeReport, "steps" | "checks" | "failure">): string[] {
  const lines = ["steps:"];
  for (const s of r.steps) lines.push(`  ${mark(s.ok)} ${s.name.padEnd(20)} ${seconds(s.durationMs).padStart(8)}${s.detail ? `  ${s.detail}` : ""}`);
  if (r.checks.length) lines.push("checks:");
  for (const c of r.checks) lines.push(`  ${mark(c.ok)} ${c.kind}: ${c.name} — ${c.detail}`);
  if (r.failure) lines.push(`failed at ${r.failure.step}: ${r.failure.message}`);
  return lines;
}

function runnerTail(r: Pick<UpgradeReport, "failure" | "runnerOutput">): string[] {
  return r.failure && r.runnerOutput ? ["runner output (end):", ...r.runnerOutput.trimEnd().split("\n").slice(-15).map((l) => `  | ${l}`)] : [];
}

export function formatUpgradeTest(r: UpgradeTestReport): string {
  return [`upgrade-test from ${r.from}: ${r.ok ? "passed" : "FAILED"} in ${seconds(r.durationMs)} (scratch ${r.scratch ?? "none"}, dropped)`, `  runner: ${r.runner}`, ...stepsAndChecks(r), ...runnerTail(r)].join("\n");
}

export function formatUpgrade(r: UpgradeReport): string {
  const lines = [`upgrade ${r.runId} of ${r.database}: ${r.finalState} in ${seconds(r.durationMs)}`, `  runner: ${r.runner}`];
  if (r.restorePoint) lines.push(`  restore point: ${r.restorePoint.name} at ${r.restorePoint.lsn} (archived; base backup ${r.backupId} verified)`);
  else if (r.backupId) lines.push(`  backup: ${r.backupId} (verified)`);
  if (r.versionBefore || r.versionAfter) lines.push(`  version: ${r.versionBefore ?? "none"} → ${r.versionAfter ?? (r.finalState === "upgraded" ? "none" : r.versionBefore ?? "none")}`);
  lines.push(...stepsAndChecks(r));
  const rb = r.rollback;
  if (!rb.taken) lines.push(r.failure ? `rollback: ${rb.error ?? "not taken (--rollback none)"}` : "rollback: not needed");
  else {
    if (rb.by === "down") lines.push(`rollback: by the down migrations (${rb.detail}); ${rb.proven ? "proven equal to the state before (schema dump and table checksums)" : "NOT proven"}`);
    else if (rb.by === "restore-point") lines.push(`rollback: ${rb.detail}; the server was stopped and started again; ${rb.proven ? "proven equal to the state before (schema dump and table checksums)" : `NOT proven: ${rb.error ?? rb.problems?.join("; ")}`}`);
    else lines.push(`${rb.downError ? `rollback: the down migrations could not put it back (${rb.downError}), so ` : "rollback: "}restored backup ${r.backupId} in place; ${rb.proven ? "proven equal to the state before (schema dump and table checksums)" : `NOT proven: ${rb.error ?? rb.problems?.join("; ")}`}`);
    if (rb.safetyBackupId) lines.push(`  the failed state is kept in safety backup ${rb.safetyBackupId}`);
    if (rb.safetyCopy) lines.push(`  the failed state is kept in ${rb.safetyCopy}`);
  }
  return [...lines, ...runnerTail(r)].join("\n");
}

/**
 * Ctrl-C stops the runner and the rollback follows: the default handlers (abort, then exit after
 * 2 s) would cut the rollback short. Later signals are said and ignored; kill -9 stays possible.
 */
function interruptsRollBack(log: { warn(fields: object, msg: string): void }): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => {
      if (!abort.signal.aborted) {
        log.warn({ signal }, "interrupted: stopping the migrations; the database will be restored from the pre-upgrade backup");
        abort.abort();
      } else log.warn({ signal }, "the rollback is running and will finish; kill -9 leaves the backup for `holdfast restore <id> --in-place`");
    });
  }
}

function positive(value: unknown, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new HoldfastError("USAGE", `${flag} expects a whole number ≥ 1, got "${String(value)}"`);
  return n;
}


