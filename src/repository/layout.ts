/**
 * Where things live inside a repository (see docs/repository-format.md). Keys are derived from
 * ids and manifests here and nowhere else.
 */
export const CONFIG_KEY = "holdfast.json";
export const KEY_FILE_KEY = "keys/repository.key.age";
/** A new key file before holdfast.json names it (repository/key-switch.ts). */
export const KEY_FILE_STAGING_KEY = "keys/repository.key.next.age";
export const BACKUPS_PREFIX = "backups/";
export const LOCKS_PREFIX = "locks/";
export const MANIFEST_NAME = "manifest.json";
/** Archived PostgreSQL WAL: wal/<timeline>/<file>.zst.age plus wal/<timeline>/<file>.json (its record). */
export const WAL_PREFIX = "wal/";
export const WAL_RECORD_SUFFIX = ".json";

/** e.g. wal/00000001/000000010000000000000003.zst.age */
export function walDataKey(timelineHex: string, fileName: string, storedSuffix: string): string {
  return `${WAL_PREFIX}${timelineHex}/${fileName}${storedSuffix}`;
}

/** The record whose presence means the WAL file is archived (written after its data). */
export function walRecordKey(timelineHex: string, fileName: string): string {
  return `${WAL_PREFIX}${timelineHex}/${fileName}${WAL_RECORD_SUFFIX}`;
}

export function backupPrefix(id: string): string {
  return `${BACKUPS_PREFIX}${id}/`;
}

export function manifestKey(id: string): string {
  return `${backupPrefix(id)}${MANIFEST_NAME}`;
}

/** e.g. backups/20261122T210501Z/database.sqlite.zst.age */
export function dataKey(id: string, fileName: string): string {
  return `${backupPrefix(id)}${fileName}`;
}

/**
 * The object that reserves a backup id, written before anything else of the backup:
 * backups/<id>/reservation.json (exclusive create) or backups/<id>/reservation-<token>.json (a
 * claim, on servers without conditional writes). Kept with the backup; it names the source and
 * the writer, so an interrupted backup can be reported for what it was.
 */
export const RESERVATION_NAME = "reservation.json";

export function reservationKey(id: string, token?: string): string {
  return `${backupPrefix(id)}${token ? `reservation-${token}.json` : RESERVATION_NAME}`;
}

export function isReservationKey(key: string): boolean {
  const name = key.slice(key.lastIndexOf("/") + 1);
  return name === RESERVATION_NAME || /^reservation-[0-9a-z-]+\.json$/.test(name);
}

/** Backup id of a key under backups/, or undefined. */
export function backupIdOf(key: string): string | undefined {
  if (!key.startsWith(BACKUPS_PREFIX)) return undefined;
  const rest = key.slice(BACKUPS_PREFIX.length);
  const slash = rest.indexOf("/");
  return slash > 0 ? rest.slice(0, slash) : undefined;
}
