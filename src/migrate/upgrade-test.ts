import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Settings } from "../config/load.js";
import type { CommandContext } from "../commands/context.js";
import { openRepository } from "../commands/open-repository.js";
import { repositoryContext } from "../commands/repository-context.js";
import { fileOpener } from "../commands/restore.js";
import { resolveSourceRef } from "../commands/source-ref.js";
import { engineForTarget, isPlainPath, loadEngine } from "../engines/registry.js";
import type { PgRef } from "../engines/postgres/connection.js";
import { HoldfastError } from "../errors.js";
import type { CheckOptions } from "./checks.js";
import { readAssertions } from "./checks-sql.js";
import { Steps, type CheckOutcome, type ReportStep } from "./report.js";
import { migrateAndCheck, type RunnerFactory } from "./upgrade.js";
import { postgresTarget } from "./upgrade-target-postgres.js";
import { sqliteTarget } from "./upgrade-target-sqlite.js";
import type { UpgradeTarget } from "./upgrade-target.js";
import type { OwnMigrations } from "./upgrade-runner-holdfast.js";
import { roundTrip } from "./upgrade-test-roundtrip.js";

export interface UpgradeTestRequest {
  /** A backup id (or latest) in the repository, or a SQLite file. */
  from: string;
  settings: Settings;
  runner: RunnerFactory;
  checksFile?: string;
  checks: Omit<CheckOptions, "assertions" | "signal">;
  /** Which source `latest` means (name, URL or file), when the repository holds several. */
  source?: string;
  /** PostgreSQL server for the scratch database (default: --scratch / the backup's own server). */
  scratchServer?: string;
  /** Holdfast's own migrations: then the chain is also rehearsed step by step, up → down → up (see upgrade-test-roundtrip.ts). */
  migrations?: OwnMigrations;
  /** Skip the step-by-step up → down → up rehearsal. */
  noRoundTrip?: boolean;
}

export interface UpgradeTestReport {
  from: string;
  scratch?: string;
  runner: string;
  ok: boolean;
  steps: ReportStep[];
  checks: CheckOutcome[];
  runnerOutput?: string;
  failure?: { step: string; message: string };
  /** The step-by-step rehearsal (with --migrations): each version and what it went through. */
  roundTrip?: string[];
  durationMs: number;
}

/**
 * The upgrade rehearsed on a copy: restore an old backup (or copy a SQLite file) into a scratch
 * database, run the migrations, run the checks, throw the scratch away. Production is not touched.
 * A scratch that cannot be made throws; a failing runner or check is in the report.
 */
export async function upgradeTest(req: UpgradeTestRequest, ctx: CommandContext): Promise<UpgradeTestReport> {
  const started = Date.now();
  const assertions = req.checksFile ? await readAssertions(req.checksFile) : [];
  const steps = new Steps();
  const report: UpgradeTestReport = { from: req.from, runner: "", ok: false, steps: steps.list, checks: [], durationMs: 0 };
  const dir = await mkdtemp(join(req.settings.tmpDir, "holdfast-upgrade-test-"));
  let dispose: (() => Promise<void>) | undefined;
  try {
    const scratch = await steps.run("restore into scratch", () => scratchFrom(req, dir, "scratch", ctx), (s) => s.target.source);
    dispose = scratch.dispose;
    report.scratch = scratch.target.source;
    const before = await steps.run("record state", () => scratch.target.state(ctx.signal), (s) => `${s.tables.length} table(s)`);
    const { env, cleanup } = await scratch.target.runnerEnv(dir);
    try {
      const runner = req.runner(scratch.target, env, { runId: "upgrade-test" });
      report.runner = runner.describe();
      report.failure = await migrateAndCheck(scratch.target, runner, before, assertions, req, steps, report, ctx);
    } finally {
      await cleanup();
    }
    if (!report.failure && req.migrations && !req.noRoundTrip) report.failure = await stepByStep(req, req.migrations, scratch.target, dir, steps, report, ctx);
    report.ok = !report.failure;
  } finally {
    await dispose?.().catch((err: unknown) => ctx.log.warn({ error: (err as Error).message }, "could not remove the scratch database"));
    await rm(dir, { recursive: true, force: true });
  }
  report.durationMs = Date.now() - started;
  return report;
}

/** The chain again on a second scratch copy, one version at a time, up → down → up; returns the failure. */
async function stepByStep(req: UpgradeTestRequest, own: OwnMigrations, direct: UpgradeTarget, dir: string, steps: Steps, report: UpgradeTestReport, ctx: CommandContext): Promise<UpgradeTestReport["failure"]> {
  let second: { target: UpgradeTarget; dispose: () => Promise<void> } | undefined;
  try {
    const directSchema = (await direct.state(ctx.signal)).schema;
    second = await steps.run("restore second scratch", () => scratchFrom(req, dir, "step-by-step", ctx), (s) => s.target.source);
    const target = second.target;
    const outcome = await steps.run("step by step", () => roundTrip(target, own, directSchema, ctx.signal), (o) => `${o.versions.length} version(s): ${o.versions.join("; ") || "nothing to apply"}`);
    report.roundTrip = outcome.versions;
    if (!outcome.difference) return undefined;
    steps.fail(outcome.difference);
    return { step: "step by step", message: outcome.difference };
  } catch (err) {
    return { step: "step by step", message: (err as Error).message };
  } finally {
    await second?.dispose().catch((err: unknown) => ctx.log.warn({ error: (err as Error).message }, "could not remove the scratch database"));
  }
}

async function scratchFrom(req: UpgradeTestRequest, parent: string, name: string, ctx: CommandContext): Promise<{ target: UpgradeTarget; dispose: () => Promise<void> }> {
  const file = req.from.startsWith("sqlite:") ? req.from.slice("sqlite:".length) : isPlainPath(req.from) && existsSync(req.from) ? req.from : undefined;
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (file !== undefined) {
    const { ref } = engineForTarget(req.from);
    const copy = join(dir, "scratch.sqlite");
    const source = new Database((ref as { path: string }).path, { readonly: true, fileMustExist: true });
    try {
      await source.backup(copy);
    } finally {
      source.close();
    }
    return { target: await sqliteTarget(copy), dispose: async () => undefined };
  }
  const { repo, keys } = await openRepository(req.settings, "required");
  const source = req.source ? resolveSourceRef(req.source, req.settings) : undefined;
  const manifest = await repo.resolve(req.from, { source, engines: ["sqlite", "postgres"], purpose: "upgrade-test" });
  const engine = await loadEngine(manifest.engine);
  const scratch = await engine.scratch(manifest, dir, { server: req.scratchServer ?? req.settings.scratchServer });
  try {
    const outcome = await engine.restore(fileOpener(repo, manifest, keys, ctx), manifest, scratch.ref, { inPlace: false, tempDir: dir, signal: ctx.signal, repository: repositoryContext(repo, keys, req.settings), log: ctx.log });
    if (!outcome.check.ok) throw new HoldfastError("RESTORE_FAILED", `backup ${manifest.id} did not restore cleanly into scratch: ${outcome.check.problems.slice(0, 3).join("; ")}`);
    const target = manifest.engine === "sqlite" ? await sqliteTarget((scratch.ref as { path: string }).path) : postgresTarget(scratch.ref as PgRef, dir);
    return { target, dispose: scratch.dispose };
  } catch (err) {
    await scratch.dispose().catch(() => undefined);
    throw err;
  }
}
