import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * A fresh clone has no timing cache, and vitest then starts the largest files first; the fault
 * suite's files are small but run for minutes, and started last they alone decide the suite's wall
 * time. These start first, in this order; everything else keeps vitest's order.
 */
const FIRST = ["test/faults/faults-ci-data", "test/faults/faults-ci-kill"];

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification): number => {
      const i = FIRST.findIndex((p) => f.moduleId.includes(p));
      return i < 0 ? FIRST.length : i;
    };
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}
