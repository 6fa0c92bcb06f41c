/** Backup ids sort by time: 20261122T210501Z, with -2, -3… when a second lands in the same second (Repository.allocateId). */
export const BACKUP_ID_PATTERN = /^\d{8}T\d{6}Z(-\d+)?$/;

export function backupIdFor(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}

/** Time order, then the numeric suffix (so -10 sorts after -9). */
export function compareBackupIds(a: string, b: string): number {
  const [ta, sa] = a.split("-");
  const [tb, sb] = b.split("-");
  if (ta !== tb) return ta! < tb! ? -1 : 1;
  return Number(sa ?? 1) - Number(sb ?? 1);
}

export function timeOfBackupId(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  if (!m) throw new Error(`not a backup id: ${id}`);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}
