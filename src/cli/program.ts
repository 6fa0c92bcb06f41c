import { Command, CommanderError, Option } from "commander";
import { EXIT_CODES, HoldfastError, isHoldfastError, redact } from "../errors.js";
import type { FlagSettings, Settings } from "../config/load.js";
import type { CommandContext } from "../commands/context.js";
import { HOLDFAST_VERSION } from "../version.js";

export const abort = new AbortController();
let debug = process.argv.includes("--debug");

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : text + "\n");
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/** A command's result: as JSON with --json, otherwise in its human format. */
export function printResult<T>(opts: { json?: boolean }, result: T, format: (result: T) => string): void {
  if (opts.json) printJson(result);
  else print(format(result));
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

type GlobalOptions = FlagSettings & { debug?: boolean; json?: boolean };
export type ActionOptions = GlobalOptions & Record<string, unknown>;

/** Merge settings and build the context every command action gets. */
export async function prepare(cmd: Command): Promise<{ settings: Settings; ctx: CommandContext; opts: ActionOptions }> {
  const opts = cmd.optsWithGlobals<ActionOptions>();
  debug = Boolean(opts.debug);
  // Loaded here, not at start-up: the config schema (zod, yaml), pino and the progress bars are a
  // command's to pay for, never `--help` or `--version`'s.
  const [{ loadSettings }, { createLogger }, { progressFactory }] = await Promise.all([import("../config/load.js"), import("./logger.js"), import("./progress.js")]);
  const settings = await loadSettings(opts);
  const log = createLogger(settings.logFormat, debug ? "debug" : settings.logLevel);
  const interactive = Boolean(process.stderr.isTTY) && !opts.json && settings.logFormat !== "json";
  return { settings, ctx: { log, progress: progressFactory(interactive), signal: abort.signal }, opts };
}

export function createProgram(): Command {
  return new Command("holdfast")
    .description("Backups you can prove: back up, verify and restore SQLite and PostgreSQL databases.")
    .version(HOLDFAST_VERSION)
    .option("--config <file>", "settings file (default ./holdfast.yaml; env HOLDFAST_CONFIG)")
    .option("--repo <location>", "repository folder or s3://bucket/prefix (env HOLDFAST_REPO)")
    .option("--passphrase-file <file>", "file holding the repository passphrase (env HOLDFAST_PASSPHRASE_FILE or HOLDFAST_PASSPHRASE)")
    .option("--identity-file <file>", "age identity file (mode 0600): the keys of a --recipient repository, or a passphrase repository's keys from `key export` (no passphrase, no scrypt; env HOLDFAST_IDENTITY_FILE)")
    .option("--s3-endpoint <url>", "S3-compatible endpoint for s3:// repositories, e.g. MinIO (env HOLDFAST_S3_ENDPOINT or AWS_ENDPOINT_URL)")
    .option("--s3-region <region>", "S3 region (env AWS_REGION; default us-east-1)")
    .addOption(new Option("--log-format <format>", "json or text (default: text on a TTY, json otherwise)").choices(["json", "text"]))
    .addOption(new Option("--log-level <level>", "log level").choices(["debug", "info", "warn", "error"]))
    .option("--debug", "show stack traces and debug logs")
    .showHelpAfterError()
    .exitOverride();
}

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

export function installSignalHandlers(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      abort.abort();
      // Give streams a moment to clean temporaries, then leave with the conventional status.
      setTimeout(() => process.exit(EXIT_CODES.INTERRUPTED), 2000).unref();
    });
  }
}

export function runProgram(program: Command): void {
  program.parseAsync(process.argv).then(
    () => process.exit(0),
    (err: unknown) => fail(abort.signal.aborted && !isHoldfastError(err) ? new HoldfastError("INTERRUPTED", "interrupted") : err),
  );
}
