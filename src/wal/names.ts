/**
 * PostgreSQL WAL file names and LSN arithmetic (pure functions).
 * A segment is TTTTTTTTXXXXXXXXYYYYYYYY: timeline, then the segment number split into a "log id"
 * and a segment within it (segmentsPerId = 2^32 / segment size). LSNs are kept as JS numbers:
 * exact up to 2^53 bytes of WAL (8 PiB), far beyond any cluster's lifetime.
 */
export type WalFileKind = "segment" | "history" | "backup" | "partial";

export interface WalFileName {
  name: string;
  kind: WalFileKind;
  timeline: number;
  /** Hex timeline, the folder name in the archive. */
  timelineHex: string;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;
const BACKUP = /^([0-9A-F]{8})[0-9A-F]{16}\.[0-9A-F]{8}\.backup$/;
const PARTIAL = /^([0-9A-F]{8})[0-9A-F]{16}\.partial$/;

/** undefined for anything that is not a WAL archive file name (never trust a path from outside). */
export function parseWalFileName(name: string): WalFileName | undefined {
  const patterns: [WalFileKind, RegExp][] = [["segment", SEGMENT], ["history", HISTORY], ["backup", BACKUP], ["partial", PARTIAL]];
  for (const [kind, re] of patterns) {
    const m = re.exec(name);
    if (m) return { name, kind, timeline: parseInt(m[1]!, 16), timelineHex: m[1]! };
  }
  return undefined;
}

export function hex8(n: number): string {
  return n.toString(16).toUpperCase().padStart(8, "0");
}

const TWO_32 = 0x1_0000_0000;

export function segmentsPerId(segmentSize: number): number {
  return TWO_32 / segmentSize;
}

/** Segment number of a segment file name (without the timeline). */
export function segmentNumber(name: string, segmentSize: number): number {
  const m = SEGMENT.exec(name.slice(0, 24));
  if (!m) throw new Error(`not a WAL segment name: ${name}`);
  return parseInt(m[2]!, 16) * segmentsPerId(segmentSize) + parseInt(m[3]!, 16);
}

export function segmentName(timeline: number, segno: number, segmentSize: number): string {
  const per = segmentsPerId(segmentSize);
  return hex8(timeline) + hex8(Math.floor(segno / per)) + hex8(segno % per);
}

/** "16/B374D848" → number. */
export function parseLsn(text: string): number {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`not an LSN: ${text}`);
  return parseInt(m[1]!, 16) * TWO_32 + parseInt(m[2]!, 16);
}

export function isLsn(text: string): boolean {
  return /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(text.trim());
}

export function formatLsn(lsn: number): string {
  return `${Math.floor(lsn / TWO_32).toString(16).toUpperCase()}/${(lsn % TWO_32).toString(16).toUpperCase()}`;
}

export function segmentOfLsn(lsn: number, segmentSize: number): number {
  return Math.floor(lsn / segmentSize);
}

/** Name of the `.backup` history file PostgreSQL archives at the end of a base backup. */
export function backupHistoryName(timeline: number, startLsn: number, segmentSize: number): string {
  return `${segmentName(timeline, segmentOfLsn(startLsn, segmentSize), segmentSize)}.${hex8(startLsn % segmentSize)}.backup`;
}

export interface TimelineSwitch {
  /** The parent timeline. */
  timeline: number;
  /** Where the child timeline branched off (first LSN that belongs to the child). */
  switchLsn: number;
}

/** A `NNNNNNNN.history` file: one "parentTLI  switchLSN  reason" line per ancestor. */
export function parseHistory(text: string): TimelineSwitch[] {
  const out: TimelineSwitch[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(line);
    if (m) out.push({ timeline: Number(m[1]), switchLsn: parseLsn(m[2]!) });
  }
  return out;
}

/** Fields of a backup_label / `.backup` file ("START WAL LOCATION: 0/2000028 (file …)"). */
export function parseBackupLabel(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z][A-Z ]+):\s*(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
