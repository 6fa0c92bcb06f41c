import { Command } from "commander";
import { HoldfastError } from "../errors.js";
import { parseDurationFlag } from "../config/duration.js";
import type { RetentionPolicy } from "../repository/retention.js";
import { collect, prepare, print, printResult } from "./program.js";

const KEEP_FLAGS = [
  ["keepLast", "--keep-last <n>", "keep the newest n backups"],
  ["keepHourly", "--keep-hourly <n>", "keep the newest backup of each of the last n hours"],
  ["keepDaily", "--keep-daily <n>", "… of each of the last n days"],
  ["keepWeekly", "--keep-weekly <n>", "… of each of the last n ISO weeks"],
  ["keepMonthly", "--keep-monthly <n>", "… of each of the last n months"],
  ["keepYearly", "--keep-yearly <n>", "… of each of the last n years"],
] as const;

/** prune, status, daemon. */
export function registerOpsCommands(program: Command): void {
  const pruneCmd = program
    .command("prune")
    .description("apply the retention policy (flags, else holdfast.yaml retention:, else 7 daily / 4 weekly / 12 monthly); removes interrupted backups and unneeded WAL")
    .option("--dry-run", "print what would be kept and removed, and why; delete nothing")
    .option("--keep-within <duration>", "keep everything newer than this (e.g. 30d)")
    .option("--min-verified <n>", "always keep at least n verified backups per source")
    .option("--database <name>", "only this configured database (repeatable)", collect)
    .option("--timezone <zone>", "time zone for days, weeks, months (default: holdfast.yaml timezone, else UTC)")
    .option("--json", "the plan as JSON");
  for (const [, flag, help] of KEEP_FLAGS) pruneCmd.option(flag, help);
  pruneCmd.action(async (_o, cmd: Command) => {
    const { settings, ctx, opts } = await prepare(cmd);
    const [{ parseInstant, policyFromConfig, prune }, { sourceUriOf }, { isValidTimeZone }, { formatPrune }] = await Promise.all([
      import("../commands/prune.js"),
      import("../commands/status.js"),
      import("../repository/retention.js"),
      import("./ops-format.js"),
    ]);
    const names = (opts.database as string[] | undefined) ?? [];
    for (const n of names) {
      if (!settings.databases[n]) throw new HoldfastError("USAGE", `unknown database "${n}" (configured: ${Object.keys(settings.databases).join(", ") || "none"})`);
    }
    const perDb = names.length === 1 ? settings.databases[names[0]!] : undefined;
    const timeZone = (opts.timezone as string | undefined) ?? perDb?.timezone ?? settings.ops?.timezone ?? "UTC";
    if (!isValidTimeZone(timeZone)) throw new HoldfastError("USAGE", `--timezone: unknown time zone "${timeZone}"`);
    const now = process.env.HOLDFAST_NOW ? parseInstant(process.env.HOLDFAST_NOW, "HOLDFAST_NOW") : undefined;
    const result = await prune(
      {
        settings,
        policy: policyFromFlags(opts, policyFromConfig(settings.ops?.retention, perDb?.retention)),
        timeZone,
        sources: names.length ? names.map((n) => sourceUriOf(settings.databases[n]!.source)) : undefined,
        dryRun: Boolean(opts.dryRun),
        now,
      },
      ctx,
    );
    printResult(opts, result, formatPrune);
  });

  program
    .command("status [databases...]")
    .description("one screen for every configured database (without databases: in holdfast.yaml, every source in the repository): last full backup, age, size, backups by kind, last verify, next run, recovery window")
    .option("--json", "JSON output")
    .action(async (names: string[], _o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const [{ status }, { formatStatus }] = await Promise.all([import("../commands/status.js"), import("./ops-format.js")]);
      const report = await status(settings, names, ctx);
      printResult(opts, report, formatStatus);
    });

  program
    .command("daemon")
    .description("run the schedules in holdfast.yaml, serve /metrics and /health, send alerts (SIGHUP reloads the config)")
    .action(async (_o, cmd: Command) => {
      const { settings, ctx } = await prepare(cmd);
      if (!settings.configPath) throw new HoldfastError("USAGE", "the daemon needs a config file: holdfast daemon --config holdfast.yaml");
      // The daemon's own shutdown replaces the CLI's abort-and-exit: wait for running jobs first.
      process.removeAllListeners("SIGINT");
      process.removeAllListeners("SIGTERM");
      // Loaded on demand: fastify and prom-client are the daemon's alone, not every command's start-up.
      const { Daemon } = await import("../daemon/daemon.js");
      const daemon = await Daemon.start(settings.configPath, ctx.log, process.env, (address) => print(`holdfast daemon listening on ${address} (starting)`));
      print("holdfast daemon ready");
      process.on("SIGHUP", () => void daemon.reload());
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          signals++;
          if (signals === 1) {
            ctx.log.info({ signal }, "shutting down (send again to interrupt running jobs)");
            void daemon.stop().then(resolve);
          } else daemon.abortRunning();
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
      });
    });
}

function policyFromFlags(opts: Record<string, unknown>, fromConfig: RetentionPolicy): RetentionPolicy {
  const given = KEEP_FLAGS.some(([key]) => opts[key] !== undefined) || opts.keepWithin !== undefined;
  // Like restic: any keep flag replaces the configured policy rather than adding to it.
  const policy: RetentionPolicy = given ? { keepLast: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0, keepWithinMs: 0, minVerified: fromConfig.minVerified } : { ...fromConfig };
  for (const [key, flag] of KEEP_FLAGS) if (opts[key] !== undefined) policy[key] = count(opts[key], flag);
  if (opts.minVerified !== undefined) policy.minVerified = count(opts.minVerified, "--min-verified");
  if (opts.keepWithin !== undefined) policy.keepWithinMs = parseDurationFlag(String(opts.keepWithin), "--keep-within", "12h or 30d");
  return policy;
}

function count(value: unknown, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(String(value)) || !Number.isSafeInteger(n)) throw new HoldfastError("USAGE", `${flag.split(" ")[0]} expects a whole number ≥ 0, got "${String(value)}"`);
  return n;
}
