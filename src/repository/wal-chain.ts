import { segmentName, segmentNumber, segmentOfLsn, type TimelineSwitch } from "../wal/names.js";

/**
 * Reasoning about the archived WAL chain (pure functions): gaps per timeline, and how far recovery
 * can get from a base backup along a timeline's history before it meets a missing segment.
 */
export interface TimelineSummary {
  timeline: number;
  first: string;
  last: string;
  segments: number;
  /** Segments absent between first and last (the first few names, then a count). */
  missing: string[];
  missingCount: number;
}

export interface SegmentEntry {
  name: string;
  timeline: number;
}

const MAX_LISTED = 20;

export function summariseTimelines(segments: SegmentEntry[], segmentSize: number): TimelineSummary[] {
  const byTimeline = new Map<number, number[]>();
  for (const s of segments) {
    const list = byTimeline.get(s.timeline) ?? [];
    list.push(segmentNumber(s.name, segmentSize));
    byTimeline.set(s.timeline, list);
  }
  const out: TimelineSummary[] = [];
  for (const [timeline, numbers] of [...byTimeline].sort((a, b) => a[0] - b[0])) {
    numbers.sort((a, b) => a - b);
    const missing: string[] = [];
    let missingCount = 0;
    for (let i = 1; i < numbers.length; i++) {
      for (let n = numbers[i - 1]! + 1; n < numbers[i]!; n++) {
        missingCount++;
        if (missing.length < MAX_LISTED) missing.push(segmentName(timeline, n, segmentSize));
      }
    }
    out.push({
      timeline,
      first: segmentName(timeline, numbers[0]!, segmentSize),
      last: segmentName(timeline, numbers.at(-1)!, segmentSize),
      segments: numbers.length,
      missing,
      missingCount,
    });
  }
  return out;
}

/** (timeline, first LSN on it) from the oldest ancestor to the target timeline itself. */
export function timelinePath(target: number, history: TimelineSwitch[]): { timeline: number; beginLsn: number }[] {
  const path: { timeline: number; beginLsn: number }[] = [];
  let begin = 0;
  for (const h of history) {
    path.push({ timeline: h.timeline, beginLsn: begin });
    begin = h.switchLsn;
  }
  path.push({ timeline: target, beginLsn: begin });
  return path;
}

export interface ChainWalk {
  /** Last segment recovery can read without a gap (undefined when even the first is missing). */
  lastSegment?: string;
  /** End of that segment: no recovery from this start can go beyond this LSN. */
  reachableLsn: number;
  /** The first segment that is absent while later ones exist: a real gap, not just the archive's end. */
  missing?: string;
  /** The first absent segment (also set at the plain end of the archive). */
  nextNeeded: string;
}

/**
 * Walk from startLsn along the path to the target timeline. For each segment number the newest
 * timeline on the path that had begun by then supplies it — the rule PostgreSQL's recovery uses.
 */
export function walkChain(startLsn: number, path: { timeline: number; beginLsn: number }[], available: ReadonlySet<string>, segmentSize: number): ChainWalk {
  const timelineFor = (segno: number): number => {
    let tl = path[0]!.timeline;
    for (const p of path) if (segmentOfLsn(p.beginLsn, segmentSize) <= segno) tl = p.timeline;
    return tl;
  };
  let segno = segmentOfLsn(startLsn, segmentSize);
  let lastSegment: string | undefined;
  for (;;) {
    const name = segmentName(timelineFor(segno), segno, segmentSize);
    if (!available.has(name)) break;
    lastSegment = name;
    segno++;
  }
  const nextNeeded = segmentName(timelineFor(segno), segno, segmentSize);
  let laterExists = false;
  for (const name of available) {
    if (name.length !== 24) continue;
    const n = segmentNumber(name, segmentSize);
    if (n > segno && timelineFor(n) === parseInt(name.slice(0, 8), 16)) {
      laterExists = true;
      break;
    }
  }
  return { lastSegment, reachableLsn: segno * segmentSize, nextNeeded, missing: laterExists ? nextNeeded : undefined };
}
