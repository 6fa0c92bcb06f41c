import { describe, expect, it } from "vitest";
import { renderFailures, renderTable, type FaultRow } from "./report.js";
import { seedFromEnv } from "./seed.js";
import { FAMILIES, runSuite, type Trials } from "./suite.js";

/**
 * The reduced fault suite (`npm run faults` is the full one): the same faults and invariants with
 * few trials and small databases. The targets are the issue's: 0 lost or corrupt backups, 0 damaged
 * live databases, 100 % of corruptions detected with the file named, 0 secrets found — and every
 * trial's other invariants (retry succeeds, bounded failure, one-line errors) hold.
 * HOLDFAST_FAULT_SEED replays a failing run.
 */
const seed = seedFromEnv();
const TRIALS: Trials = { kill: 1, corruption: 2, storage: 2, pairs: 1, config: 12 };

function explain(rows: FaultRow[]): string {
  return `seed ${seed} (replay: HOLDFAST_FAULT_SEED=${seed} npx vitest run test/faults)\n${renderTable(rows)}\n${renderFailures(rows)}`;
}

/** The reduced run of some fault families, one test each (two files, so both test workers start on one). */
export function reducedRun(title: string, families: string[]): void {
  describe(`fault suite, reduced run: ${title} (seed ${seed})`, () => {
    it.each(FAMILIES.filter((f) => families.includes(f.name)).map((f) => f.name))("%s", { timeout: 600_000 }, async (family) => {
      const rows = await runSuite({ seed, trials: TRIALS, quick: true, only: [family], log: () => undefined });
      expect(rows.length).toBeGreaterThan(0);
      const why = explain(rows);
      for (const row of rows) {
        expect(row.trials, why).toBeGreaterThan(0);
        expect(row.lostOrCorrupt, `${row.fault}: corrupt or lost backups\n${why}`).toBe(0);
        expect(row.damagedLive, `${row.fault}: damaged live databases\n${why}`).toBe(0);
        expect(row.detected, `${row.fault}: faults not detected (or the file not named)\n${why}`).toBe(row.detectedOf);
        expect(row.survived, `${row.fault}: trials whose invariants failed\n${why}`).toBe(row.trials);
      }
    });
  });
}

/** Every family is in one of the two reduced-run files. */
export const KILL_FAMILIES = FAMILIES.filter((f) => f.name.startsWith("kill-")).map((f) => f.name);
export const DATA_FAMILIES = FAMILIES.filter((f) => !f.name.startsWith("kill-")).map((f) => f.name);
