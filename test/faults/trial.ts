import type { Rng } from "./seed.js";
import { harnessFailure, newRow, record, type FaultRow, type TrialOutcome } from "./report.js";

/** How many trials each fault gets, and the randomness they draw from. */
export interface Plan {
  trials: number;
  rng: Rng;
  /** Smaller databases for the reduced run inside the normal test suite. */
  quick: boolean;
  /** Progress lines (the full run prints them; the CI test keeps them quiet). */
  log(line: string): void;
}

/** Run `trials` trials of one fault into one table row; a broken trial is a failed trial, not a crash. */
export async function runRow(
  fault: string,
  trials: number,
  plan: Plan,
  trial: (n: number) => Promise<TrialOutcome>,
  setup?: { problems: string[]; lostOrCorrupt: number },
): Promise<FaultRow> {
  const row = newRow(fault);
  for (let n = 1; n <= trials; n++) {
    const outcome = await trial(n).catch(harnessFailure);
    if (n === 1 && setup && setup.problems.length > 0) {
      // What was wrong before any fault (e.g. the first backup does not restore) still counts.
      outcome.problems.unshift(...setup.problems.map((p) => `before the first fault: ${p}`));
      outcome.lostOrCorrupt += setup.lostOrCorrupt;
    }
    record(row, `trial ${n}`, outcome);
    plan.log(`${fault} #${n}: ${outcome.problems.length === 0 ? "ok" : outcome.problems.join("; ")}`);
  }
  return row;
}

export function outcome(problems: string[], lostOrCorrupt = 0, damagedLive = 0, detected?: boolean): TrialOutcome {
  return { problems, lostOrCorrupt, damagedLive, ...(detected === undefined ? {} : { detected }) };
}
