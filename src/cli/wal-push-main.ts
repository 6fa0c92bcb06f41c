#!/usr/bin/env node
/**
 * The lean archive_command: `node …/dist/cli/wal-push-main.js %p --repo <repo>` runs the same
 * walPush as `holdfast wal-push %p`, but loads only what a push needs (no commander, progress bars,
 * engines or other commands; the S3 SDK only for an S3 repository, see storage/open.ts).
 * PostgreSQL starts one process per WAL segment, so start-up time is most of the cost
 * (bench/wal.ts measures it). A file an earlier call already pushed along with its own
 * (wal/push-markers.ts) is acknowledged before anything else is loaded: a few milliseconds.
 */
import { resolve } from "node:path";
import { EXIT_CODES, HoldfastError, isHoldfastError, redact } from "../errors.js";
import { takeMarker } from "../wal/push-markers.js";

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

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // The repository loadSettings would pick, when it is known without reading a configuration file.
  const repo = args.repo ?? process.env.HOLDFAST_REPO;
  if (repo && (await takeMarker(resolve(args.path), repo))) return;
  const [{ loadSettings }, { walPush }, { createLogger }] = await Promise.all([import("../config/load.js"), import("../commands/wal.js"), import("./logger.js")]);
  const settings = await loadSettings({ repo: args.repo, config: args.config });
  const log = createLogger(settings.logFormat, settings.logLevel);
  await walPush(args.path, settings, { log, progress: () => ({ update: () => undefined, stop: () => undefined }) });
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
