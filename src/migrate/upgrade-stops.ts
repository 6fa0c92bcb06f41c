import { HoldfastError } from "../errors.js";

/**
 * Required stops: versions an upgrade may not jump over (a release whose data migration later
 * ones rely on). Refused before anything changes when the database's current version is below a
 * stop and the upgrade goes past it (no --to, or --to beyond the stop). A database with no
 * version found is a fresh install: stops do not apply.
 */
export function checkRequiredStops(current: string | undefined, stops: string[], to: string | undefined): void {
  if (current === undefined) return;
  for (const stop of [...stops].sort(compareVersions)) {
    if (compareVersions(current, stop) >= 0) continue;
    if (to !== undefined && compareVersions(to, stop) <= 0) continue;
    throw new HoldfastError("UPGRADE_REFUSED", `the database is at version ${current} and ${stop} is a required stop: this upgrade would skip it`, {
      hint: `upgrade to ${stop} first (the release that ships it, or --to ${stop}), then on to the next`,
    });
  }
}

/** Numeric when both are whole numbers (20240101, 0005), else natural string order. */
export function compareVersions(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a.localeCompare(b, "en", { numeric: true });
}
