import type { CommandContext } from "../commands/context.js";
import type { Engine, RepositoryContext } from "../engines/engine.js";
import type { AgeKeys } from "../pipeline/age.js";
import type { Manifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import { judgeRecoveryPoint, recoveryFacts, recoveryStart } from "./recovery-point.js";
import { decodeFiles, fetchFiles, type PhaseClock } from "./stage.js";
import type { DrillTarget } from "./targets.js";
import type { CheckList } from "./verdict.js";

export interface DrillSteps {
  engine: Engine<unknown>;
  manifest: Manifest;
  target: DrillTarget;
  repo: Repository;
  keys: AgeKeys | undefined;
  repository: RepositoryContext;
  staging: string;
  clock: PhaseClock;
  checks: CheckList;
  statements: string[];
  requestedTime?: Date;
  ctx: CommandContext;
}

/**
 * The timed phases of a drill: fetch, decode, restore (and, for a base backup, recovery), then the
 * checks on the restored database. Findings are added to `checks`; a failure of the restore itself
 * throws (the caller records it).
 */
export async function runDrillSteps(s: DrillSteps): Promise<{ newestData?: string; recovery?: Record<string, string> }> {
  const { engine, manifest, target, clock, checks, ctx } = s;
  const physical = engine.name === "postgres-physical";
  const staged = await clock.time("fetch", () => fetchFiles(s.repo.backend, manifest, s.staging, ctx.signal));
  const open = await clock.time("decode", () => decodeFiles(staged, manifest, s.keys, s.staging, ctx.signal));
  const restoreStarted = new Date();
  const outcome = await engine.restore(open, manifest, target.ref, {
    inPlace: false,
    // Deep-verify semantics (report the failed checks, do not throw) for the logical engines; a base
    // backup is recovered to the drill's target, never archiving into production's repository.
    reportOnly: !physical,
    tempDir: s.staging,
    signal: ctx.signal,
    options: physical ? { targetTime: s.requestedTime?.toISOString(), archive: false, replace: false } : undefined,
    repository: s.repository,
    log: ctx.log,
  });
  const restoreEnded = Date.now();
  const split = physical ? await recoveryStart(outcome, restoreStarted.getTime(), restoreEnded) : undefined;
  if (split !== undefined) {
    clock.add("restore", restoreStarted, split - restoreStarted.getTime());
    clock.add("recovery", new Date(split), restoreEnded - split);
  } else clock.add("restore", restoreStarted, restoreEnded - restoreStarted.getTime());
  checks.add("restore", "restore", "pass", outcome.headline ?? `backup ${manifest.id} restored into ${outcome.target}`);

  let newestData: string | undefined;
  let recovery: Record<string, string> | undefined;
  if (physical) {
    newestData = judgeRecoveryPoint(checks, outcome, s.requestedTime);
    recovery = recoveryFacts(outcome);
  }
  await clock.time("checks", async () => {
    const probe = await target.open();
    try {
      try {
        checks.add("engine", "write probe", "pass", await probe.writeProbe());
      } catch (err) {
        checks.add("engine", "write probe", "fail", (err as Error).message);
      }
      if (physical) checks.add("tables", "tables recorded", "skipped", "a base backup records no table facts; the recovery point is checked instead");
      else {
        // The engine compared the restore with the manifest as it restored (row counts, content checksums).
        checks.addTables(manifest, outcome.check);
      }
      for (const r of await probe.sequences()) checks.add("sequences", r.name, r.ok ? "pass" : "fail", r.detail);
      for (const r of await probe.smoke(s.statements)) checks.add("smoke", r.name, r.ok ? "pass" : "fail", r.detail);
    } finally {
      await probe.close();
    }
  });
  return { newestData, recovery };
}
