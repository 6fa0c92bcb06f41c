import { describe, expect, it } from "vitest";
import { summariseTimelines, timelinePath, walkChain } from "../../src/repository/wal-chain.js";
import { backupHistoryName, formatLsn, parseHistory, parseLsn, segmentName, segmentNumber } from "../../src/wal/names.js";

const MB16 = 16 * 1024 * 1024;
const seg = (tl: number, n: number) => segmentName(tl, n, MB16);

describe("WAL names and the archived chain", () => {
  it("maps names, numbers and LSNs both ways, across the 4 GiB log-id boundary", () => {
    expect(seg(1, 3)).toBe("000000010000000000000003");
    expect(seg(2, 256)).toBe("000000020000000100000000"); // 256 × 16 MiB = 4 GiB
    expect(segmentNumber("000000020000000100000000", MB16)).toBe(256);
    expect(formatLsn(parseLsn("1/B374D848"))).toBe("1/B374D848");
    expect(backupHistoryName(1, parseLsn("0/2000028"), MB16)).toBe("000000010000000000000002.00000028.backup");
    expect(parseHistory("1\t0/5000A28\tno recovery target specified\n\n2\t0/7000000\tbefore 2026\n")).toEqual([
      { timeline: 1, switchLsn: parseLsn("0/5000A28") },
      { timeline: 2, switchLsn: parseLsn("0/7000000") },
    ]);
  });

  it("finds gaps per timeline", () => {
    const t = summariseTimelines([1, 2, 3, 5, 6, 9].map((n) => ({ name: seg(1, n), timeline: 1 })), MB16);
    expect(t).toEqual([{ timeline: 1, first: seg(1, 1), last: seg(1, 9), segments: 6, missing: [seg(1, 4), seg(1, 7), seg(1, 8)], missingCount: 3 }]);
  });

  it("walks along the timeline history: the newest timeline that has begun supplies each segment", () => {
    // Timeline 2 branched inside segment 5: segments 1-4 come from timeline 1, 5 on from timeline 2.
    const available = new Set([seg(1, 2), seg(1, 3), seg(1, 4), seg(1, 5), seg(1, 6), seg(2, 5), seg(2, 6)]);
    const path = timelinePath(2, [{ timeline: 1, switchLsn: 5 * MB16 + 0x100 }]);
    const walk = walkChain(2 * MB16 + 0x28, path, available, MB16);
    expect(walk.lastSegment).toBe(seg(2, 6));
    expect(walk.reachableLsn).toBe(7 * MB16);
    expect(walk.missing).toBeUndefined();
    expect(walk.nextNeeded).toBe(seg(2, 7));
  });

  it("tells a real gap (later WAL exists) from the plain end of the archive", () => {
    const available = new Set([seg(1, 2), seg(1, 3), seg(1, 5)]);
    const walk = walkChain(2 * MB16, timelinePath(1, []), available, MB16);
    expect(walk.missing).toBe(seg(1, 4));
    expect(walk.reachableLsn).toBe(4 * MB16);
    // Segments of an abandoned timeline-1 future do not count as "later WAL" on timeline 2's path.
    const branched = walkChain(2 * MB16, timelinePath(2, [{ timeline: 1, switchLsn: 3 * MB16 }]), new Set([seg(1, 2), seg(1, 3), seg(1, 5)]), MB16);
    expect(branched.lastSegment).toBe(seg(1, 2));
    expect(branched.nextNeeded).toBe(seg(2, 3));
    expect(branched.missing).toBeUndefined();
  });
});
