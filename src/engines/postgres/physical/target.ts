import { HoldfastError } from "../../../errors.js";
import { formatLsn, isLsn, parseLsn } from "../../../wal/names.js";
import type { Manifest } from "../../../repository/manifest.js";

/** Where a point-in-time restore should stop. */
export type RecoveryTarget =
  | { kind: "latest" }
  /** The backup's own consistency point (deep verify). */
  | { kind: "immediate" }
  | { kind: "time"; time: Date }
  | { kind: "lsn"; lsn: number }
  | { kind: "xid"; xid: string }
  | { kind: "name"; name: string };

export interface TargetFlags {
  targetTime?: string;
  targetLsn?: string;
  targetXid?: string;
  targetName?: string;
}

export function parseTarget(flags: TargetFlags): RecoveryTarget {
  const given = (["targetTime", "targetLsn", "targetXid", "targetName"] as const).filter((k) => flags[k] !== undefined);
  if (given.length > 1) throw new HoldfastError("USAGE", `give one recovery target, not ${given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(" and ")}`);
  if (flags.targetTime !== undefined) {
    const text = flags.targetTime.trim();
    if (!/([zZ]|[+-]\d\d(:?\d\d)?)$/.test(text)) {
      throw new HoldfastError("USAGE", `--target-time "${text}" has no time zone`, { hint: 'write it with an offset, e.g. "2026-11-22 10:15:00+00"' });
    }
    const time = new Date(text.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00"));
    if (Number.isNaN(time.getTime())) throw new HoldfastError("USAGE", `--target-time "${text}" is not a timestamp`, { hint: 'e.g. "2026-11-22 10:15:00+00"' });
    return { kind: "time", time };
  }
  if (flags.targetLsn !== undefined) {
    if (!isLsn(flags.targetLsn)) throw new HoldfastError("USAGE", `--target-lsn "${flags.targetLsn}" is not an LSN (e.g. 0/3000060)`);
    return { kind: "lsn", lsn: parseLsn(flags.targetLsn) };
  }
  if (flags.targetXid !== undefined) {
    if (!/^\d+$/.test(flags.targetXid)) throw new HoldfastError("USAGE", `--target-xid "${flags.targetXid}" is not a transaction id`);
    return { kind: "xid", xid: flags.targetXid };
  }
  if (flags.targetName !== undefined) {
    if (!flags.targetName) throw new HoldfastError("USAGE", "--target-name is empty");
    return { kind: "name", name: flags.targetName };
  }
  return { kind: "latest" };
}

export function describeTarget(t: RecoveryTarget): string {
  switch (t.kind) {
    case "latest": return "the end of the archived WAL";
    case "immediate": return "the base backup's consistency point";
    case "time": return `time ${t.time.toISOString()}`;
    case "lsn": return `LSN ${formatLsn(t.lsn)}`;
    case "xid": return `transaction ${t.xid}`;
    case "name": return `restore point "${t.name}"`;
  }
}

/** The recovery_target_* settings (the rest — action, timeline — is the same for every target). */
export function targetSettings(t: RecoveryTarget): Record<string, string> {
  switch (t.kind) {
    case "latest": return {};
    case "immediate": return { recovery_target: "immediate" };
    case "time": return { recovery_target_time: t.time.toISOString().replace("T", " ").replace("Z", "+00"), recovery_target_inclusive: "on" };
    case "lsn": return { recovery_target_lsn: formatLsn(t.lsn), recovery_target_inclusive: "on" };
    case "xid": return { recovery_target_xid: t.xid, recovery_target_inclusive: "on" };
    case "name": return { recovery_target_name: t.name };
  }
}

/**
 * The newest base backup that was consistent before the target: replaying less WAL is faster, and
 * a backup taken after the target cannot go back in time. For a transaction id or restore point
 * the position is unknown in advance: the newest backup, unless --backup names one.
 */
export function pickBaseBackup(backups: Manifest[], target: RecoveryTarget): Manifest {
  if (backups.length === 0) throw new HoldfastError("BACKUP_NOT_FOUND", "no physical base backups in the repository", { hint: "take one with `holdfast backup --type physical postgres://…`" });
  let eligible = backups;
  if (target.kind === "time") eligible = backups.filter((m) => new Date(String(m.details.consistentAt)).getTime() <= target.time.getTime());
  if (target.kind === "lsn") eligible = backups.filter((m) => parseLsn(String(m.details.stopLsn)) <= target.lsn);
  const chosen = eligible.at(-1);
  if (!chosen) {
    const oldest = backups[0]!;
    throw new HoldfastError("BACKUP_NOT_FOUND", `no base backup is older than ${describeTarget(target)}: the oldest (${oldest.id}) is consistent from ${String(oldest.details.consistentAt)}, LSN ${String(oldest.details.stopLsn)}`, {
      hint: "choose a later target; `holdfast wal verify` shows the recovery window",
    });
  }
  return chosen;
}

/** The physical engine's restore options (from restore's flags), checked. */
export interface PhysicalRestoreOptions {
  target: RecoveryTarget;
  /** Move a non-empty target aside (kept as a safety copy) instead of refusing. */
  replace: boolean;
  /** Let the restored server archive into this repository (a real failover); default off. */
  archive: boolean;
  recoveryTimeoutSeconds: number;
}

/** Deep verify (scratch): recover only to the backup's consistency point, archive nothing. */
export function physicalRestoreOptions(options: Record<string, unknown> | undefined, scratch: boolean): PhysicalRestoreOptions {
  const o = options ?? {};
  const target: RecoveryTarget = scratch ? { kind: "immediate" } : targetFromOptions(o);
  const timeout = o.recoveryTimeoutSeconds === undefined ? 86_400 : Number(o.recoveryTimeoutSeconds);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new HoldfastError("USAGE", `--recovery-timeout expects a number of seconds, got "${String(o.recoveryTimeoutSeconds)}"`);
  return { target, replace: o.replace === true && !scratch, archive: o.archive === true && !scratch, recoveryTimeoutSeconds: timeout };
}

/** The recovery target named by restore's options (targetTime, targetLsn, targetXid, targetName). */
export function targetFromOptions(options: Record<string, unknown> | undefined): RecoveryTarget {
  const text = (k: keyof TargetFlags): string | undefined => (options?.[k] === undefined || options[k] === null ? undefined : String(options[k]));
  return parseTarget({ targetTime: text("targetTime"), targetLsn: text("targetLsn"), targetXid: text("targetXid"), targetName: text("targetName") });
}
