import { Command, Option } from "commander";
import { HoldfastError } from "../errors.js";
import { initRepository } from "../commands/init.js";
import { backup } from "../commands/backup.js";
import { listBackups, showBackup } from "../commands/catalog.js";
import { verify } from "../commands/verify.js";
import { restore } from "../commands/restore.js";
import { runDemo } from "../commands/demo.js";
import { collect, prepare, print, printJson } from "./program.js";
import { formatList, formatManifest, formatRestore, formatVerify } from "./format.js";

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
  .option("--label <key=value>", "label the backup (repeatable)", collect)
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

}
