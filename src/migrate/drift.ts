import { checksumOf } from "./checksum.js";
import type { Migration } from "./files.js";
import type { HistoryRow } from "./history.js";

/** An applied migration whose file no longer has the text that was applied. */
export interface Drift {
  version: number;
  name: string;
  file: string;
  appliedChecksum: string;
  fileChecksum: string;
  /** Unified-style hunks (applied text → file), at most MAX_LINES lines. */
  diff: string;
}

const MAX_LINES = 40;

/** Compared with the algorithm each row was written with, so a newer normalisation never flags old rows. */
export function findDrift(migrations: readonly Migration[], history: readonly HistoryRow[]): Drift[] {
  const files = new Map(migrations.map((m) => [m.version, m]));
  const out: Drift[] = [];
  for (const row of history) {
    const m = files.get(row.version);
    if (!m || checksumOf(m.up, row.checksumAlgorithm) === row.checksum) continue;
    out.push({ version: row.version, name: row.name, file: m.files[0]!, appliedChecksum: row.checksum, fileChecksum: m.checksum, diff: unifiedDiff(row.upSql, m.up) });
  }
  return out;
}

/** Line difference as `@@ -a,n +b,m @@` hunks without context (longest common subsequence). */
export function unifiedDiff(before: string, after: string): string {
  const a = before.split("\n");
  const b = after.split("\n");
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const lines: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else {
      const [si, sj] = [i, j];
      const removed: string[] = [];
      const added: string[] = [];
      while ((i < a.length || j < b.length) && !(i < a.length && j < b.length && a[i] === b[j])) {
        if (j >= b.length || (i < a.length && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) removed.push(a[i++]!);
        else added.push(b[j++]!);
      }
      lines.push(`@@ -${si + 1},${removed.length} +${sj + 1},${added.length} @@`, ...removed.map((l) => `-${l}`), ...added.map((l) => `+${l}`));
    }
  }
  return (lines.length > MAX_LINES ? [...lines.slice(0, MAX_LINES), `… ${lines.length - MAX_LINES} more lines`] : lines).join("\n");
}
