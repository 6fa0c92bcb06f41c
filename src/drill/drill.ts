import { mkdtemp, readFile, rm } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { HoldfastError, isHoldfastError, type ErrorCode } from "../errors.js";
import type { Settings } from "../config/load.js";
import { HOLDFAST_VERSION, type CommandContext } from "../commands/context.js";
import { openRepository } from "../commands/open-repository.js";
import { repositoryContext } from "../commands/repository-context.js";
import { sweepAbandoned } from "../engines/abandoned.js";
import { loadEngine } from "../engines/registry.js";
import { markInUse } from "../repository/in-use.js";
import { openBackend } from "../storage/open.js";
import { newDrillId, storeDrill, type DrillRecord } from "./record.js";
import { renderDrillHtml } from "./report-html.js";
import { pastArchiveEnd } from "./recovery-point.js";
import { chooseDrillBackup, drillSubject } from "./select.js";
import { splitStatements } from "./probe.js";
import { PhaseClock } from "./stage.js";
import { DRILL_ENGINES, prepareTarget, sweepAbandonedDrills } from "./targets.js";
import { runDrillSteps } from "./steps.js";
import { CheckList, judgeObjective, pgLogTime } from "./verdict.js";

export interface DrillRequest {
  /** A database name from holdfast.yaml, or a source (URI, SQLite path). */
  database: string;
  /** "primary" (default) or an offsite location (a copy_to repository). */
  from?: string;
  /** A point in time to recover to (physical: PITR; logical/SQLite: the newest backup before it). */
  targetTime?: string;
  /** logical or physical, when the source has both kinds of backups. */
  type?: string;
  scratch?: string;
  /** A file of smoke SQL statements, each returning a truthy first column. */
  checksFile?: string;
  rtoMs?: number;
  rpoMs?: number;
  settings: Settings;
}

export interface DrillResult {
  record: DrillRecord;
  html: string;
  /** Where the record was stored (repository/key), or why it could not be. */
  stored: { location?: string; error?: string };
}

const PREFIX_STAGING = "holdfast-drill-stage-";

/** Failures that are the drill's finding about the backup (a FAIL), not a reason it could not run. */
const FINDINGS: ReadonlySet<ErrorCode> = new Set(["CORRUPTED", "TRUNCATED", "RESTORE_FAILED", "VERIFY_FAILED", "MANIFEST_MISSING"]);

/**
 * Restore a backup into a scratch target the drill names and owns, prove it in layers, measure
 * RTO per phase and RPO, judge them against the database's objectives, and store the record.
 * Scratch resources are removed whatever happens; those of a drill killed outright are swept by
 * the next one.
 */
export async function runDrill(req: DrillRequest, ctx: CommandContext): Promise<DrillResult> {
  const started = new Date();
  const id = newDrillId(started);
  const subject = drillSubject(req.database, req.settings, { rtoMs: req.rtoMs, rpoMs: req.rpoMs });
  const requestedTime = req.targetTime === undefined ? undefined : parseTime(req.targetTime);
  const fromPrimary = !req.from || req.from === "primary";
  const settings: Settings = fromPrimary ? req.settings : { ...req.settings, repo: req.from, copyTo: [] };
  const statements = req.checksFile ? splitStatements(await readFile(req.checksFile, "utf8").catch(() => { throw new HoldfastError("USAGE", `cannot read --checks file ${req.checksFile}`); })) : [];
  const { repo, keys } = await openRepository(settings, "required");
  const manifest = await chooseDrillBackup(repo, subject.source, { type: req.type, targetTime: requestedTime, signal: ctx.signal });
  const engine = await loadEngine(manifest.engine);
  if (!DRILL_ENGINES.includes(engine.name)) throw new HoldfastError("USAGE", `drills restore databases (${DRILL_ENGINES.join(", ")}), not ${engine.name} backups`);
  if (requestedTime && requestedTime.getTime() > started.getTime()) throw new HoldfastError("USAGE", `--target-time ${req.targetTime} is in the future`);

  const swept = await sweepAbandonedDrills(engine, manifest, { scratch: req.scratch, tmpDir: settings.tmpDir });
  await sweepAbandoned(settings.tmpDir, PREFIX_STAGING);
  if (swept.length) ctx.log.info({ removed: swept }, "removed what interrupted drills left behind");

  const clock = new PhaseClock();
  const checks = new CheckList();
  const repository = repositoryContext(repo, keys, settings);
  let newestData: string | undefined = engine.name === "postgres-physical" ? undefined : manifest.startedAt;
  let recovery: Record<string, string> | undefined;
  let scratchDescription = req.scratch ?? "(not created)";
  const reading = await markInUse(repo.backend, manifest.id, `drill ${id} of ${manifest.id}`, ctx.signal);
  try {
    const beyond = requestedTime && engine.name === "postgres-physical" ? await pastArchiveEnd(manifest, repository, requestedTime) : undefined;
    if (beyond) checks.add("recovery-point", "target within the archive", "inconclusive", beyond);
    else {
      const staging = await mkdtemp(join(settings.tmpDir, `${PREFIX_STAGING}${process.pid}-`));
      let target: Awaited<ReturnType<typeof prepareTarget>> | undefined;
      try {
        target = await prepareTarget(engine, manifest, { drillId: id, scratch: req.scratch, tmpDir: settings.tmpDir });
        scratchDescription = target.description;
        ctx.log.info({ id, backup: manifest.id, scratch: target.description }, "drill started");
        const found = await runDrillSteps({ engine, manifest, target, repo, keys, repository, staging, clock, checks, statements, requestedTime, ctx });
        if (found.newestData !== undefined || engine.name === "postgres-physical") newestData = found.newestData;
        recovery = found.recovery;
      } catch (err) {
        if (!isHoldfastError(err) || !FINDINGS.has(err.code) || ctx.signal?.aborted) throw err;
        const pitrEnd = requestedTime && /the WAL ends first/.test(err.message);
        const phase = `${clock.phases.at(-1)?.name ?? "restore"} phase`;
        checks.add(pitrEnd ? "recovery-point" : "restore", pitrEnd ? "target within the archive" : phase, pitrEnd ? "inconclusive" : "fail", err.message);
      } finally {
        await target?.release();
        await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      }
    }
  } finally {
    await reading.release();
  }

  const requestedPoint = (requestedTime ?? started).toISOString();
  const rpoMs = newestData === undefined ? undefined : Math.max(0, Date.parse(requestedPoint) - Date.parse(newestData));
  const rtoMs = checks.checks.some((c) => c.layer === "restore" && c.status === "fail") || clock.phases.length === 0 ? undefined : clock.total();
  judgeObjective(checks, "RTO", rtoMs, subject.targets.rtoMs);
  judgeObjective(checks, "RPO", rpoMs, subject.targets.rpoMs);
  const { verdict, reasons } = checks.verdict();
  const record: DrillRecord = {
    formatVersion: 1,
    id,
    database: subject.database,
    source: subject.source,
    engine: engine.name,
    backupId: manifest.id,
    from: fromPrimary ? "primary" : repo.backend.location,
    requested: requestedTime ? { kind: "time", time: requestedTime.toISOString() } : { kind: "latest" },
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    verdict,
    reasons,
    phases: clock.phases,
    rtoMs,
    rpo: { ms: rpoMs, requestedPoint, newestData, basis: engine.name === "postgres-physical" ? "last replayed commit (recovery log)" : "backup snapshot (its start)" },
    targets: subject.targets,
    checks: checks.checks,
    recovery,
    scratch: scratchDescription,
    versions: { holdfast: HOLDFAST_VERSION, database: manifest.source.version, node: process.version },
    ranBy: { user: safeUser(), host: hostname(), pid: process.pid },
  };
  const html = renderDrillHtml(record);
  const stored = await store(record, html, req.settings, fromPrimary ? undefined : repo.backend, ctx);
  ctx.log.info({ id, verdict, rtoMs, rpoMs }, "drill finished");
  return { record, html, stored };
}

/** In the primary repository; when the drill ran from an offsite copy and the primary cannot take it, there. */
async function store(record: DrillRecord, html: string, settings: Settings, offsite: ReturnType<typeof openBackend> | undefined, ctx: CommandContext): Promise<DrillResult["stored"]> {
  const places = [...(settings.repo ? [() => openBackend(settings.repo, { s3: settings.s3 })] : []), ...(offsite ? [() => offsite] : [])];
  let error = "no repository to store the record in";
  for (const open of places) {
    const backend = open();
    try {
      await storeDrill(backend, record, html, ctx.signal);
      return { location: `${backend.location}/drills/${record.id}.json` };
    } catch (err) {
      error = (err as Error).message;
      ctx.log.warn({ repo: backend.location, error }, "could not store the drill record");
    }
  }
  return { error };
}

function parseTime(text: string): Date {
  const iso = /(Z|[+-]\d{2}(:?\d{2})?|UTC)$/i.test(text.trim()) ? pgLogTime(text) : undefined;
  if (!iso) {
    throw new HoldfastError("USAGE", `--target-time expects a moment with its time zone, e.g. "2026-11-22 10:15:00+00", got "${text}"`);
  }
  return new Date(iso);
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "unknown");
  }
}
