import { describe, expect, it } from "vitest";
import { recoveryWindowOf } from "../../src/repository/recovery-window.js";
import type { Manifest } from "../../src/repository/manifest.js";
import type { WalCatalog } from "../../src/repository/wal-catalog.js";

const SEG = 16 * 1024 * 1024;
const seg = (n: number) => `00000001000000000000000${n.toString(16).toUpperCase()}`;

/** A base backup's manifest as the physical engine writes it (engines/postgres/physical/snapshot.ts) (only the fields the window reads). */
function base(id: string, startSegment: number, consistentAt: string): Manifest {
  const startLsn = `0/${(startSegment * SEG + 0x28).toString(16).toUpperCase()}`;
  const stopLsn = `0/${(startSegment * SEG + 0x1000).toString(16).toUpperCase()}`;
  return {
    id,
    source: { uri: "postgres://db/app", version: "17", sizeBytes: 1 },
    details: { timeline: 1, startLsn, stopLsn, walSegmentSize: SEG, walStart: seg(startSegment), consistentAt },
  } as unknown as Manifest;
}

/** The archive as loadWalCatalog reads it: which segments are there and when each arrived. */
function archive(segments: number[]): WalCatalog {
  const names = segments.map(seg);
  return {
    files: [],
    segments: new Set(names),
    archivedAt: new Map(segments.map((n) => [seg(n), new Date(Date.UTC(2026, 10, 20, n))])),
    histories: new Map(),
    unreadHistories: [],
    segmentSize: SEG,
    timelines: [],
  };
}

describe("recovery window", () => {
  const a = base("A", 3, "2026-11-20T03:30:00.000Z");
  const b = base("B", 6, "2026-11-20T06:30:00.000Z");

  it("runs from the oldest base backup to the last gap-free segment", () => {
    expect(recoveryWindowOf([a, b], archive([3, 4, 5, 6, 7, 8]))).toEqual({
      from: "2026-11-20T03:30:00.000Z",
      to: "2026-11-20T08:00:00.000Z",
      baseBackups: 2,
      earliest: { backupId: "A", lsn: "0/3001000" },
      latest: { backupId: "B", lsn: "0/9000000", segment: seg(8), timeline: 1 },
    });
  });

  it("starts at the newer base backup when a gap cuts the WAL after the older one", () => {
    expect(recoveryWindowOf([a, b], archive([3, 5, 6, 7]))).toMatchObject({ from: "2026-11-20T06:30:00.000Z", to: "2026-11-20T07:00:00.000Z", baseBackups: 1, earliest: { backupId: "B" } });
  });

  it("is undefined without a base backup that its WAL makes consistent", () => {
    expect(recoveryWindowOf([a, b], archive([4, 5]))).toBeUndefined();
    expect(recoveryWindowOf([], archive([3]))).toBeUndefined();
  });
});
