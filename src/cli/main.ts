#!/usr/bin/env node
import { Command, CommanderError, Option } from "commander";
import { EXIT_CODES, HoldfastError, isHoldfastError, redact } from "../errors.js";
import { loadSettings, type FlagSettings } from "../config/load.js";
import { HOLDFAST_VERSION, type CommandContext } from "../commands/context.js";
import { initRepository } from "../commands/init.js";
import { backup } from "../commands/backup.js";
import { listBackups, showBackup } from "../commands/catalog.js";
import { verify } from "../commands/verify.js";
import { restore } from "../commands/restore.js";
import { runDemo } from "../commands/demo.js";
import { createLogger } from "./logger.js";
import { progressFactory } from "./progress.js";
import { formatList, formatManifest, formatRestore, formatVerify } from "./format.js";

const abort = new AbortController();
let debug = process.argv.includes("--debug");

function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : text + "\n");
}

function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

type GlobalOptions = FlagSettings & { debug?: boolean; json?: boolean };

/** Merge settings and build the context every command action gets. */
async function prepare(cmd: Command): Promise<{ settings: Awaited<ReturnType<typeof loadSettings>>; ctx: CommandContext; opts: GlobalOptions & Record<string, unknown> }> {
  const opts = cmd.optsWithGlobals<GlobalOptions & Record<string, unknown>>();
  debug = Boolean(opts.debug);
  const settings = await loadSettings(opts);
  const log = createLogger(settings.logFormat, debug ? "debug" : settings.logLevel);
  const interactive = Boolean(process.stderr.isTTY) && !opts.json && settings.logFormat !== "json";
  return { settings, ctx: { log, progress: progressFactory(interactive), signal: abort.signal }, opts };
}

const program = new Command("holdfast")
  .description("Backups you can prove: back up, verify and restore SQLite and PostgreSQL databases.")
  .version(HOLDFAST_VERSION)
  .option("--config <file>", "settings file (default ./holdfast.yaml; env HOLDFAST_CONFIG)")
  .option("--repo <location>", "repository folder (env HOLDFAST_REPO)")
  .option("--passphrase-file <file>", "file holding the repository passphrase (env HOLDFAST_PASSPHRASE_FILE or HOLDFAST_PASSPHRASE)")
  .option("--identity-file <file>", "age identity file for repositories encrypted to --recipient keys (env HOLDFAST_IDENTITY_FILE)")
  .addOption(new Option("--log-format <format>", "json or text (default: text on a TTY, json otherwise)").choices(["json", "text"]))
  .addOption(new Option("--log-level <level>", "log level").choices(["debug", "info", "warn", "error"]))
  .option("--debug", "show stack traces and debug logs")
  .showHelpAfterError()
  .exitOverride();

const repoCmd = program.command("repo").description("manage repositories");
repoCmd
  .command("init [location]")
  .description("create a repository in an empty folder")
  .addOption(new Option("--encryption <mode>", "age or none").choices(["age", "none"]).default("age"))
  .option("--recipient <age1…>", "encrypt to this age public key instead of a passphrase (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
  .addOption(new Option("--scrypt-work-factor <n>", "scrypt log2 work factor for the key file").default("18").hideHelp())
  .action(async (location: string | undefined, _o, cmd: Command) => {
    const { settings, ctx, opts } = await prepare(cmd);
    const where = location ?? settings.repo;
    if (!where) throw new HoldfastError("USAGE", "say where: holdfast repo init <location> (or --repo)");
    const result = await initRepository(
      {
        location: where,
        encryption: opts.encryption as "age" | "none",
        passphrase: settings.passphrase,
        recipients: opts.recipient as string[] | undefined,
        scryptWorkFactor: Number(opts.scryptWorkFactor),
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
  .option("--label <key=value>", "label the backup (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
  .option("--lock-wait <duration>", "wait this long for another backup of the same source (e.g. 30s)")
  .option("--json", "print the manifest as JSON")
  .action(async (source: string, _o, cmd: Command) => {
    const { settings, ctx, opts } = await prepare(cmd);
    const m = await backup({ source, settings }, ctx);
    if (opts.json) printJson(m);
    else print(`backup ${m.id} complete: ${m.files.map((f) => `${f.key} (${f.storedBytes} bytes)`).join(", ")}`);
  });

program
  .command("list")
  .description("list complete backups")
  .option("--json", "JSON output")
  .action(async (_o, cmd: Command) => {
    const { settings, ctx, opts } = await prepare(cmd);
    const result = await listBackups(settings, ctx);
    if (opts.json) printJson(result);
    else print(formatList(result));
  });

program
  .command("show <backup>")
  .description("show a backup's manifest (id or latest)")
  .option("--json", "the manifest as stored")
  .action(async (ref: string, _o, cmd: Command) => {
    const { settings, ctx, opts } = await prepare(cmd);
    const m = await showBackup(ref, settings, ctx);
    print(opts.json ? JSON.stringify(m, null, 2) : formatManifest(m));
  });

program
  .command("verify [backups...]")
  .description("re-read and check backups (default latest); --deep restores to scratch and compares")
  .option("--all", "every backup")
  .option("--deep", "restore into a scratch database and compare tables and row counts")
  .option("--scratch <server>", "PostgreSQL server for deep-verify scratch databases")
  .option("--json", "JSON report")
  .action(async (refs: string[], _o, cmd: Command) => {
    const { settings, ctx, opts } = await prepare(cmd);
    const report = await verify({ refs, all: Boolean(opts.all), deep: Boolean(opts.deep), settings }, ctx);
    if (opts.json) printJson(report);
    else print(formatVerify(report));
    const failed = report.backups.find((b) => !b.ok);
    if (failed?.error) throw new HoldfastError(failed.error.code, failed.error.message);
  });

program
  .command("restore <backup>")
  .description("restore a backup (id or latest) to a new target, or --in-place with a safety copy")
  .option("--to <target>", "where to restore (a new file for SQLite)")
  .option("--in-place", "replace the live database (default target: the backup's source); the original is kept and put back on failure")
  .option("--json", "JSON report")
  .action(async (ref: string, _o, cmd: Command) => {
    const { settings, ctx, opts } = await prepare(cmd);
    const result = await restore({ ref, to: opts.to as string | undefined, inPlace: Boolean(opts.inPlace), settings }, ctx);
    if (opts.json) printJson(result);
    else print(formatRestore(result));
  });

program
  .command("demo")
  .description("create a sample SQLite database, back it up, verify it deeply and restore it")
  .option("--dir <folder>", "where to put the demo", "holdfast-demo")
  .action(async (_o, cmd: Command) => {
    const { ctx, opts } = await prepare(cmd);
    await runDemo(String(opts.dir), ctx, print);
  });

function fail(err: unknown): never {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : EXIT_CODES.USAGE);
  }
  const e = isHoldfastError(err) ? err : new HoldfastError("INTERNAL", (err as Error)?.message ?? String(err), { cause: err });
  process.stderr.write(redact(`holdfast: error: ${e.message}\n`));
  if (e.hint) process.stderr.write(redact(`holdfast: hint: ${e.hint}\n`));
  if (debug) process.stderr.write(redact(`${(e.cause as Error)?.stack ?? e.stack}\n`));
  else if (e.code === "INTERNAL") process.stderr.write("holdfast: run again with --debug for details\n");
  process.exit(e.exitCode);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    abort.abort();
    // Give streams a moment to clean temporaries, then leave with the conventional status.
    setTimeout(() => process.exit(EXIT_CODES.INTERRUPTED), 2000).unref();
  });
}

program.parseAsync(process.argv).then(
  () => process.exit(0),
  (err: unknown) => fail(abort.signal.aborted && !isHoldfastError(err) ? new HoldfastError("INTERRUPTED", "interrupted") : err),
);
