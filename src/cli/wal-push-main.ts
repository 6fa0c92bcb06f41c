#!/usr/bin/env node
/**
 * The lean archive_command: `node …/dist/cli/wal-push-main.js %p --repo <repo>` does exactly what
 * `holdfast wal-push %p` does, but loads only what one push needs (no commander, logger, S3 SDK
 * unless the repository is on S3, engines or other commands). PostgreSQL starts one process per
 * WAL segment, so start-up time is most of the cost (bench/pitr.ts measures both).
 */
import { basename, resolve } from "node:path";
import { EXIT_CODES, HoldfastError, isHoldfastError, redact } from "../errors.js";
import { loadSettings } from "../config/load.js";
import type { StorageBackend } from "../storage/backend.js";
import { LocalBackend } from "../storage/local.js";
import { Repository } from "../repository/repository.js";
import { WalArchive } from "../repository/wal-archive.js";

function parseArgs(argv: string[]): { path: string; repo?: string; config?: string } {
  let path: string | undefined;
  let repo: string | undefined;
  let config: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--repo") repo = argv[++i];
    else if (a === "--config") config = argv[++i];
    else if (a.startsWith("--repo=")) repo = a.slice("--repo=".length);
    else if (a.startsWith("--config=")) config = a.slice("--config=".length);
    else if (a.startsWith("--")) throw new HoldfastError("USAGE", `unknown option ${a} (wal-push-main takes <path> --repo <location> [--config <file>])`);
    else if (path === undefined) path = a;
    else throw new HoldfastError("USAGE", `unexpected argument "${a}"`);
  }
  if (!path) throw new HoldfastError("USAGE", "wal-push needs the WAL file path (archive_command: … %p)");
  return { path, repo, config };
}

async function backendFor(location: string | undefined, settings: Awaited<ReturnType<typeof loadSettings>>): Promise<StorageBackend> {
  if (location && !/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return new LocalBackend(resolve(location));
  const { openBackend } = await import("../storage/open.js");
  return openBackend(location, { s3: settings.s3 });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const settings = await loadSettings({ repo: args.repo, config: args.config });
  const file = basename(args.path);
  WalArchive.nameOf(file);
  const repo = await Repository.open(await backendFor(settings.repo, settings));
  await new WalArchive(repo.backend).push(resolve(args.path), file, { compression: settings.compression, recipients: repo.recipients }).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException)?.code === "ENOENT" || isHoldfastError(err, "NOT_FOUND")) {
      throw new HoldfastError("SOURCE_MISSING", `WAL file ${args.path} does not exist`);
    }
    throw err;
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const e = isHoldfastError(err) ? err : new HoldfastError("INTERNAL", (err as Error)?.message ?? String(err));
    process.stderr.write(redact(`holdfast: error: ${e.message}\n`));
    if (e.hint) process.stderr.write(redact(`holdfast: hint: ${e.hint}\n`));
    process.exit(EXIT_CODES[e.code] ?? 1);
  },
);
