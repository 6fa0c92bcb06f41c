import { configFuzzRow } from "./config-fuzz.js";
import { corruptionRows } from "./corrupt.js";
import { postgresKillRows } from "./kill-postgres.js";
import { repoOpKillRows } from "./kill-repo-ops.js";
import { sqliteKillRows } from "./kill-sqlite.js";
import { walPushKillRow } from "./kill-wal.js";
import { pairRows } from "./pairs.js";
import { harnessFailure, newRow, record, type FaultRow } from "./report.js";
import { secretRow } from "./secrets.js";
import { createRng } from "./seed.js";
import { storageFaultRows } from "./storage-faults.js";
import type { Plan } from "./trial.js";

/** Trials per trial family; the full run and the CI run differ only in these numbers and database sizes. */
export interface Trials {
  kill: number;
  corruption: number;
  storage: number;
  pairs: number;
  config: number;
}

export interface SuiteOptions {
  seed: number;
  trials: Trials;
  quick: boolean;
  /** Only these families (HOLDFAST_FAULT_ONLY=pairs,corruption to replay a failure). */
  only?: string[];
  log(line: string): void;
}

interface Family {
  name: string;
  trials: keyof Trials | "fixed";
  run(plan: Plan): Promise<FaultRow[]>;
}

export const FAMILIES: Family[] = [
  { name: "kill-sqlite", trials: "kill", run: sqliteKillRows },
  { name: "kill-postgres", trials: "kill", run: postgresKillRows },
  { name: "kill-wal", trials: "kill", run: async (p) => [await walPushKillRow(p)] },
  { name: "kill-repo", trials: "kill", run: repoOpKillRows },
  { name: "corruption", trials: "corruption", run: corruptionRows },
  { name: "storage", trials: "storage", run: storageFaultRows },
  { name: "pairs", trials: "pairs", run: pairRows },
  { name: "config", trials: "config", run: async (p) => [await configFuzzRow(p)] },
  { name: "secrets", trials: "fixed", run: async (p) => [await secretRow(p)] },
];

/**
 * Every family draws from its own generator forked from the one seed, so one family replays the
 * same way whether or not the others run. A family whose set-up breaks becomes one failed row.
 */
export async function runSuite(options: SuiteOptions): Promise<FaultRow[]> {
  const root = createRng(options.seed);
  const rows: FaultRow[] = [];
  for (const family of FAMILIES) {
    if (options.only && !options.only.includes(family.name)) continue;
    const plan: Plan = {
      trials: family.trials === "fixed" ? 1 : options.trials[family.trials],
      rng: root.fork(family.name),
      quick: options.quick,
      log: options.log,
    };
    const started = Date.now();
    try {
      rows.push(...(await family.run(plan)));
    } catch (err) {
      const row = newRow(`${family.name} (set-up failed)`);
      record(row, "set-up", harnessFailure(err));
      rows.push(row);
    }
    options.log(`${family.name}: ${Math.round((Date.now() - started) / 1000)} s`);
  }
  return rows;
}

export function trialsFromEnv(defaultKill: number): Trials {
  const given = Number(process.env.HOLDFAST_FAULT_TRIALS);
  const kill = Number.isInteger(given) && given > 0 ? given : defaultKill;
  return {
    kill,
    corruption: Math.max(2, 2 * Math.round(kill / 4)),
    storage: Math.max(3, Math.round(kill / 3)),
    pairs: Math.max(2, Math.round(kill / 2)),
    config: kill * 5,
  };
}

export function onlyFromEnv(): string[] | undefined {
  const only = process.env.HOLDFAST_FAULT_ONLY;
  return only ? only.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
}
