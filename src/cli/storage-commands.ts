import type { Command } from "commander";
import { HoldfastError, registerSecret } from "../errors.js";
import { parseDurationFlag } from "../config/duration.js";
import type { CopyResult } from "../commands/copy.js";
import type { CheckResult } from "../commands/check.js";
import { prepare, printResult } from "./program.js";
import { registerKeyCommands } from "./key-commands.js";
import { askSecret } from "./secret-prompt.js";
import { bytes } from "./text.js";

/** copy (offsite copies) and check (repository health, --read-data). */
export function registerStorageCommands(program: Command): void {
  const key = program.command("key").description("the repository keys: export, passphrase, rotate, list");
  registerKeyCommands(key);
  key
    .command("export")
    .description("write the repository's age identities (every key) to a new 0600 file, for disaster recovery with `age -d -i` (needs the passphrase once)")
    .requiredOption("--out <file>", "a new file (never overwritten); keep it offline, apart from the repository")
    .option("--json", "JSON output")
    .action(async (_o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      // On a terminal with no passphrase configured, ask once (without echo) instead of failing.
      if (settings.passphrase === undefined && !settings.identities?.length && process.stdin.isTTY) {
        settings.passphrase = await askSecret("repository passphrase: ");
        registerSecret(settings.passphrase);
      }
      const { exportKey } = await import("../commands/key-export.js");
      const result = await exportKey(String(opts.out), settings, ctx);
      printResult(opts, result, (r) => `wrote the ${r.keys > 1 ? `${r.keys} identities` : "identity"} of ${r.repository} (current public key ${r.recipient}) to ${r.out} (mode 0600): anyone with this file can read every backup; keep it offline, apart from the repository`);
    });

  program
    .command("copy [backups...]")
    .description("copy backups (default latest) to another repository and verify them there")
    .requiredOption("--to <location>", "destination: a folder or s3://bucket/prefix (receives this repository's config and key file)")
    .option("--all", "every backup")
    .option("--wal", "also bring the destination's PostgreSQL WAL archive up to date (alone, with no backups named: only the WAL)")
    .option("--source <source>", "which source `latest` means (URI, file path or database name from holdfast.yaml)")
    .option("--json", "JSON output")
    .action(async (refs: string[], _o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const { copyBackups } = await import("../commands/copy.js");
      const result = await copyBackups({ refs, all: Boolean(opts.all), wal: Boolean(opts.wal), to: String(opts.to), source: opts.source as string | undefined, settings }, ctx);
      printResult(opts, result, formatCopy);
    });

  program
    .command("check")
    .description("check the repository: structure, interrupted backups, orphans; --read-data re-downloads and proves stored data")
    .option("--read-data", "re-download stored files and check their SHA-256 (and, with the key, decrypt and decompress)")
    .option("--subset <percent>", "with --read-data, read only this share of the files, e.g. 10%")
    .option("--stale-after <duration>", "abort incomplete uploads older than this (default 24h)")
    .option("--json", "JSON output")
    .action(async (_o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      if (opts.subset !== undefined && !opts.readData) throw new HoldfastError("USAGE", "--subset needs --read-data");
      const [{ checkRepository, parseSubset }, { describeIncomplete }] = await Promise.all([import("../commands/check.js"), import("../repository/incomplete.js")]);
      const staleUploadAgeMs = opts.staleAfter === undefined ? undefined : parseDurationFlag(String(opts.staleAfter), "--stale-after", "24h");
      const subset = opts.subset === undefined ? undefined : parseSubset(String(opts.subset));
      const result = await checkRepository({ settings, readData: Boolean(opts.readData), subset, staleUploadAgeMs }, ctx);
      printResult(opts, result, (r) => formatCheck(r, describeIncomplete));
      if (!result.ok) throw new HoldfastError("VERIFY_FAILED", `check of ${result.repository} found ${result.problems.length} problem(s)`);
    });
}

function formatCopy(r: CopyResult): string {
  const lines = r.copied.map((c) => `copied ${c.id} to ${r.destination} (${c.files} file(s), ${bytes(c.storedBytes)}, checksums verified there)`);
  for (const id of r.skipped) lines.push(`${id} already in ${r.destination}`);
  if (r.wal) lines.push(`WAL archive: copied ${r.wal.copied} file(s) (${bytes(r.wal.storedBytes)}) to ${r.destination}, ${r.wal.alreadyThere} already there`);
  if (lines.length === 0) lines.push("nothing to copy");
  return lines.join("\n");
}

function formatCheck(r: CheckResult, describeIncomplete: (i: CheckResult["incomplete"][number]) => string): string {
  const lines = [`repository ${r.repository}: ${r.backups} backup(s), ${r.files} file(s)`];
  if (r.filesRead > 0) lines.push(`read ${r.filesRead} file(s), ${bytes(r.bytesRead)} (${r.level === "content" ? "decrypted, decompressed, both hashes checked" : "stored bytes only: no key given"})`);
  for (const p of r.problems) lines.push(`FAILED ${p.id}: ${p.message}`);
  for (const i of r.incomplete) lines.push(`WARNING ${describeIncomplete(i)}`);
  if (r.orphans.length) lines.push(`orphan object(s) not listed in their manifest: ${r.orphans.join(", ")}`);
  if (typeof r.staleUploadsRemoved === "number" && r.staleUploadsRemoved > 0) lines.push(`removed ${r.staleUploadsRemoved} stale incomplete upload(s)`);
  lines.push(r.ok ? "no errors found" : `${r.problems.length} problem(s) found`);
  return lines.join("\n");
}
