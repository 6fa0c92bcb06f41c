import { Command, Option } from "commander";
import { HoldfastError } from "../errors.js";
import { collect, prepare, print, printResult } from "./program.js";
import { keepYoungGenerationSmall } from "./young-generation.js";

// Each action imports its command and formatter itself, so registering them all stays cheap.
const format = () => import("./format.js");

const SOURCE_HELP = "which source `latest` means: a URI, a SQLite file path or a database name from holdfast.yaml (needed when the repository holds several)";

/** repo init, backup, list, show, verify, restore, demo. */
export function registerCoreCommands(program: Command): void {
const repoCmd = program.command("repo").description("manage repositories");
repoCmd
  .command("init [location]")
  .description("create a repository in an empty folder")
  .addOption(new Option("--encryption <mode>", "age or none").choices(["age", "none"]).default("age"))
  .option("--recipient <age1…>", "encrypt to this age public key instead of a passphrase (repeatable)", collect)
  .addOption(new Option("--scrypt-work-factor <n>", "scrypt log2 work factor for the key file").default("18").hideHelp())
  .action(async (location: string | undefined, _o, cmd: Command) => {
    const { settings, ctx, opts } = await prepare(cmd);
    const where = location ?? settings.repo;
    if (!where) throw new HoldfastError("USAGE", "say where: holdfast repo init <location> (or --repo)");
    const { initRepository } = await import("../commands/init.js");
    const result = await initRepository(
      {
        location: where,
        encryption: opts.encryption as "age" | "none",
        passphrase: settings.passphrase,
        recipients: opts.recipient as string[] | undefined,
        scryptWorkFactor: Number(opts.scryptWorkFactor),
        s3: settings.s3,
      },
      ctx,
    );
    print(`initialised repository ${result.location} (encryption: ${result.encryption})`);
  });

program
  .command("backup <source>")
  .description("back up a database (sqlite:./app.db) while it keeps running")
  .addOption(new Option("--compression <algorithm>", "zstd, gzip or none (default zstd)").choices(["zstd", "gzip", "none"]))
  .option("--level <n>", "compression level (zstd 1-19, gzip 1-9)")
  .option("--label <key=value>", "label the backup (repeatable)", collect)
  .option("--lock-wait <duration>", "wait this long for another backup of the same source (e.g. 30s)")
  .option("--json", "print the manifest as JSON")
  .addOption(new Option("--format <format>", "PostgreSQL: pg_dump format, custom (streamed) or directory").choices(["custom", "directory"]))
  .option("--jobs <n>", "PostgreSQL: parallel pg_dump jobs (with --format directory)")
  .option("--schema-only", "PostgreSQL: definitions only")
  .option("--data-only", "PostgreSQL: data only")
  .option("--table <pattern>", "PostgreSQL: only these tables (repeatable, pg_dump patterns)", collect)
  .option("--exclude-table <pattern>", "PostgreSQL: leave these tables out (repeatable)", collect)
  .addOption(new Option("--type <type>", "PostgreSQL: logical (pg_dump) or physical (base backup for point-in-time recovery)").choices(["logical", "physical"]))
  .option("--wal-wait <seconds>", "physical: how long to wait for the backup's WAL to be archived", "120")
  .action(async (source: string, _o, cmd: Command) => {
    const { settings, ctx, opts } = await prepare(cmd);
    const engineOptions = opts.type === "physical"
      ? { walWaitMs: Number(opts.walWait) * 1000 }
      : { format: opts.format, jobs: opts.jobs, schemaOnly: opts.schemaOnly, dataOnly: opts.dataOnly, tables: opts.table, excludeTables: opts.excludeTable };
    const [{ backup }, { formatBackup }] = await Promise.all([import("../commands/backup.js"), format()]);
    const m = await backup({ source, settings, engineOptions, type: opts.type as string | undefined }, ctx);
    printResult(opts, m, formatBackup);
  });

program
  .command("list")
  .description("list complete backups")
  .option("--json", "JSON output")
  .action(async (_o, cmd: Command) => {
    const { settings, ctx, opts } = await prepare(cmd);
    const [{ listBackups }, { formatList }] = await Promise.all([import("../commands/catalog.js"), format()]);
    const result = await listBackups(settings, ctx);
    printResult(opts, result, formatList);
  });

program
  .command("show <backup>")
  .description("show a backup's manifest (id or latest)")
  .option("--source <source>", SOURCE_HELP)
  .option("--json", "the manifest as stored")
  .action(async (ref: string, _o, cmd: Command) => {
    const { settings, ctx, opts } = await prepare(cmd);
    const [{ showBackup }, { formatManifest }] = await Promise.all([import("../commands/catalog.js"), format()]);
    const m = await showBackup(ref, settings, ctx, opts.source as string | undefined);
    printResult(opts, m, formatManifest);
  });

program
  .command("verify [backups...]")
  .description("re-read and check backups (default latest); --deep restores to scratch and compares")
  .option("--all", "every backup")
  .option("--deep", "restore into a scratch database and compare tables and row counts")
  .option("--scratch <server>", "PostgreSQL server for deep-verify scratch databases")
  .option("--source <source>", SOURCE_HELP)
  .option("--json", "JSON report")
  .action(async (refs: string[], _o, cmd: Command) => {
    keepYoungGenerationSmall();
    const { settings, ctx, opts } = await prepare(cmd);
    const [{ verify }, { formatVerify }] = await Promise.all([import("../commands/verify.js"), format()]);
    const report = await verify({ refs, all: Boolean(opts.all), deep: Boolean(opts.deep), source: opts.source as string | undefined, settings }, ctx);
    printResult(opts, report, formatVerify);
    const failed = report.backups.find((b) => !b.ok);
    if (failed?.error) throw new HoldfastError(failed.error.code, failed.error.message);
  });

program
  .command("restore [backup]")
  .description("restore a backup (id or latest) to a new target, or --in-place with a safety copy")
  .option("--to <target>", "where to restore (a new file for SQLite)")
  .option("--source <source>", SOURCE_HELP)
  .option("--in-place", "replace the live database (default target: the backup's source); the original is kept and put back on failure")
  .option("--jobs <n>", "PostgreSQL: parallel pg_restore jobs")
  .option("--clean", "PostgreSQL: restore into an existing database, dropping the objects the backup holds first")
  .option("--no-owner", "PostgreSQL: do not restore object ownership")
  .option("--role <role>", "PostgreSQL: restore as this role (SET ROLE)")
  .option("--checksums", "PostgreSQL: also compare per-table content checksums after restoring (always on for --in-place)")
  .option("--terminate-timeout <seconds>", "PostgreSQL --in-place: wait this long for connections to close before terminating them", "30")
  .addOption(new Option("--type <type>", "physical: point-in-time restore of a base backup + archived WAL into a new data directory").choices(["logical", "physical"]))
  .option("--target-time <timestamp>", "physical: recover up to this moment (with time zone, e.g. \"2026-11-22 10:15:00+00\")")
  .option("--target-lsn <lsn>", "physical: recover up to this WAL location")
  .option("--target-xid <xid>", "physical: recover up to this transaction")
  .option("--target-name <name>", "physical: recover up to this restore point (pg_create_restore_point)")
  .option("--replace", "physical: move a non-empty target directory aside (kept as a safety copy)")
  .option("--recovery-timeout <seconds>", "physical: give up if recovery takes longer", "86400")
  .option("--archive", "physical: let the restored server archive its WAL into this repository (a real failover); off by default so a side restore never writes into production's archive")
  .option("--json", "JSON report")
  .action(async (refArg: string | undefined, _o, cmd: Command) => {
    keepYoungGenerationSmall();
    const { settings, ctx, opts } = await prepare(cmd);
    const physical = opts.type === "physical";
    if (!refArg && !physical) throw new HoldfastError("USAGE", "say which backup to restore: an id or latest");
    const engineOptions = {
      jobs: opts.jobs, clean: opts.clean, noOwner: opts.owner === false, role: opts.role, terminateTimeout: opts.terminateTimeout, checksums: opts.checksums,
      targetTime: opts.targetTime, targetLsn: opts.targetLsn, targetXid: opts.targetXid, targetName: opts.targetName,
      replace: Boolean(opts.replace), archive: Boolean(opts.archive), recoveryTimeoutSeconds: Number(opts.recoveryTimeout),
    };
    const [{ restore }, { formatRestore, restoreJson }] = await Promise.all([import("../commands/restore.js"), format()]);
    const result = await restore({ ref: refArg ?? "latest", to: opts.to as string | undefined, source: opts.source as string | undefined, inPlace: Boolean(opts.inPlace), settings, engineOptions, type: opts.type as string | undefined }, ctx);
    printResult(opts, restoreJson(result), formatRestore);
  });

program
  .command("demo")
  .description("create a sample SQLite database, back it up, verify it deeply and restore it")
  .option("--dir <folder>", "where to put the demo", "holdfast-demo")
  .action(async (_o, cmd: Command) => {
    const { ctx, opts } = await prepare(cmd);
    const { runDemo } = await import("../commands/demo.js");
    await runDemo(String(opts.dir), ctx, print);
  });

}
