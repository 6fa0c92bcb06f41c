import { rename, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { HoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { PHYSICAL_ENGINE } from "../engines/postgres/physical/basebackup.js";
import { adoptOwner, ensureConfigFiles, extractTar, prepareTarget, retireRecoverySettings, writeRecoverySettings } from "../engines/postgres/physical/datadir.js";
import { RECOVERY_LOG, redoDoneAt, runRecovery } from "../engines/postgres/physical/recovery.js";
import { formatLsn } from "../engines/postgres/physical/wal-names.js";
import { openStoredFile } from "../pipeline/assemble.js";
import { WalArchive } from "../repository/wal-archive.js";
import { PREFETCH_DIR } from "../repository/wal-prefetch.js";
import { loadWalCatalog, reachFromBackup, type BackupReach } from "../repository/wal-catalog.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";
import { describeTarget, parseTarget, pickBaseBackup, targetSettings, type RecoveryTarget, type TargetFlags } from "./physical-target.js";

export interface PhysicalRestoreRequest extends TargetFlags {
  /** A new (or empty) data directory. */
  to: string;
  /** Base backup to start from; default: chosen from the target. */
  backup?: string;
  /** Move a non-empty target aside (kept as a safety copy) instead of refusing. */
  replace: boolean;
  settings: Settings;
  /** How restore_command finds the passphrase: the file path (never the passphrase itself). */
  passphraseFile?: string;
  identityFile?: string;
  recoveryTimeoutSeconds?: number;
  /** Deep verify: recover only to the backup's consistency point, archive nothing. */
  scratch?: boolean;
}

export interface PhysicalRestoreResult {
  backupId: string;
  target: string;
  recoveryTarget: string;
  safetyCopy?: string;
  createdConfigFiles: string[];
  stoppedAt?: string;
  redoDoneLsn?: string;
  lastTransactionTime?: string;
  timeline?: number;
  serverLog: string;
  durationMs: number;
}

/**
 * Point-in-time restore: unpack the base backup, point restore_command at `holdfast wal-fetch`,
 * run PostgreSQL until it has recovered to the target and promoted, check it really got there,
 * stop it. The directory is then ready for `pg_ctl start`. Never a silent partial recovery: a gap
 * in the archive before the target fails with the missing segment and the furthest reachable point.
 */
export async function physicalRestore(req: PhysicalRestoreRequest, ctx: CommandContext): Promise<PhysicalRestoreResult> {
  const started = Date.now();
  const target: RecoveryTarget = req.scratch ? { kind: "immediate" } : parseTarget({ targetTime: req.targetTime, targetLsn: req.targetLsn, targetXid: req.targetXid, targetName: req.targetName });
  const { repo, keys } = await openRepository(req.settings, "required");
  const physical = (await repo.catalog()).backups.filter((m) => m.engine === PHYSICAL_ENGINE);
  const manifest = req.backup ? await repo.resolve(req.backup, (m) => m.engine === PHYSICAL_ENGINE) : pickBaseBackup(physical, target);
  if (manifest.engine !== PHYSICAL_ENGINE) throw new HoldfastError("ENGINE_MISMATCH", `backup ${manifest.id} is a ${manifest.engine} backup, not a physical base backup`);
  const catalog = await loadWalCatalog(new WalArchive(repo.backend), keys, manifest.details.walSegmentSize as number);
  const reach = reachFromBackup(catalog, manifest);
  assertReachable(reach, target, manifest.id);

  const dir = resolve(req.to);
  const { safetyCopy } = await prepareTarget(dir, req.replace);
  ctx.log.info({ id: manifest.id, target: dir, recoveryTarget: describeTarget(target), safetyCopy }, "physical restore started");
  try {
    const file = manifest.files[0]!;
    const bar = ctx.progress("restore base", file.storedBytes);
    try {
      await extractTar(await openStoredFile(repo.backend, file, { keys, signal: ctx.signal, onProgress: (n) => bar.update(n) }), dir, ctx.signal);
    } finally {
      bar.stop();
    }
    const owner = await adoptOwner(dir);
    const createdConfigFiles = await ensureConfigFiles(dir, owner);
    await writeRecoverySettings(dir, {
      restore_command: restoreCommand(req),
      recovery_target_timeline: "latest",
      recovery_target_action: "promote",
      ...targetSettings(target),
    }, owner);
    const outcome = await runRecovery(dir, owner, { timeoutSeconds: req.recoveryTimeoutSeconds ?? 86_400, archiving: !req.scratch }).catch((err: unknown) => {
      throw explainFailure(err, reach, target);
    });
    assertTargetReached(outcome, reach, target, catalog.segmentSize ?? Number(manifest.details.walSegmentSize));
    await rm(join(dir, "pg_wal", PREFETCH_DIR), { recursive: true, force: true });
    await retireRecoverySettings(dir);
    ctx.log.info({ id: manifest.id, stoppedAt: outcome.stoppedAt, redoDone: outcome.redoDoneLsn }, "physical restore complete");
    return {
      backupId: manifest.id,
      target: dir,
      recoveryTarget: describeTarget(target),
      safetyCopy,
      createdConfigFiles,
      stoppedAt: outcome.stoppedAt,
      redoDoneLsn: outcome.redoDoneLsn,
      lastTransactionTime: outcome.lastTransactionTime,
      timeline: outcome.newTimeline,
      serverLog: `${dir}/${RECOVERY_LOG}`,
      durationMs: Date.now() - started,
    };
  } catch (err) {
    // Leave things as they were: no half-recovered directory, the previous one back in place;
    // only the server log stays, next to the target, to explain what happened.
    const savedLog = `${dir}.${RECOVERY_LOG}`;
    const logKept = await rename(join(dir, RECOVERY_LOG), savedLog).then(() => true, () => false);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    if (safetyCopy) await rename(safetyCopy, dir).catch(() => undefined);
    if (logKept && err instanceof HoldfastError) throw new HoldfastError(err.code, err.message, { hint: `${err.hint ? `${err.hint}; ` : ""}server log: ${savedLog}`, cause: err });
    throw err;
  }
}

function reachText(reach: BackupReach): string {
  return `the furthest reachable point is LSN ${formatLsn(reach.reachableLsn)}${reach.lastSegment ? ` (end of segment ${reach.lastSegment}${reach.reachableArchivedAt ? `, archived ${reach.reachableArchivedAt}` : ""})` : ""}`;
}

/** Before touching the target: refuse what the archive cannot possibly deliver. */
function assertReachable(reach: BackupReach, target: RecoveryTarget, id: string): void {
  if (!reach.consistent) {
    throw new HoldfastError("RESTORE_FAILED", `base backup ${id} cannot be made consistent: WAL segment ${reach.nextNeeded} is missing from the archive`, { hint: "restore from another base backup (--backup) or find the segment" });
  }
  if (target.kind === "latest" && reach.missing) {
    throw new HoldfastError("RESTORE_FAILED", `WAL segment ${reach.missing} is missing from the archive although later WAL exists; ${reachText(reach)}`, {
      hint: "restore to a target before that point (--target-time/--target-lsn) knowingly, or put the segment back",
    });
  }
  if (target.kind === "lsn" && target.lsn > reach.reachableLsn) {
    throw new HoldfastError("RESTORE_FAILED", `LSN ${formatLsn(target.lsn)} is beyond the archived WAL: segment ${reach.nextNeeded} is ${reach.missing ? "missing" : "not archived yet"}; ${reachText(reach)}`);
  }
}

/** PostgreSQL stops with FATAL when it runs out of WAL before an explicit target: say which segment. */
function explainFailure(err: unknown, reach: BackupReach, target: RecoveryTarget): unknown {
  if (!(err instanceof HoldfastError) || !/recovery ended before configured recovery target was reached/.test(err.message)) return err;
  const before = target.kind === "xid" || target.kind === "name" ? `, or it lies before base backup ${reach.backupId} (name an older one: holdfast restore <id> --type physical …)` : "";
  return new HoldfastError("RESTORE_FAILED", `recovery could not reach ${describeTarget(target)}: the WAL ends first — segment ${reach.nextNeeded} is ${reach.missing ? "missing from the archive" : "not archived (yet)"}${before}; ${reachText(reach)}`, {
    hint: "choose an earlier target, or `latest`; `holdfast wal verify` shows the recovery window",
  });
}

/** After promotion: the log must show the target was hit, or (latest) that replay used all the WAL there is. */
function assertTargetReached(outcome: Awaited<ReturnType<typeof runRecovery>>, reach: BackupReach, target: RecoveryTarget, segmentSize: number): void {
  if (target.kind !== "latest") {
    if (!outcome.stoppedAt) throw new HoldfastError("RESTORE_FAILED", `PostgreSQL finished recovery without reporting that it stopped at ${describeTarget(target)}`, { hint: "see the server log in the restored directory" });
    return;
  }
  const done = redoDoneAt(outcome);
  if (done !== undefined && done < reach.reachableLsn - segmentSize) {
    throw new HoldfastError("RESTORE_FAILED", `recovery stopped at ${formatLsn(done)} although the archive holds WAL up to ${formatLsn(reach.reachableLsn)}: a segment after ${formatLsn(done)} could not be fetched`, {
      hint: "see the server log; `holdfast wal verify --stored` checks the archive",
    });
  }
}

/** The absolute command PostgreSQL runs for each WAL file: node, this CLI, the repository, the key's file. */
function restoreCommand(req: PhysicalRestoreRequest): string {
  const cli = fileURLToPath(new URL("../cli/main.js", import.meta.url));
  const q = (s: string): string => `"${s.replace(/(["\\$`])/g, "\\$1")}"`;
  const parts = [q(process.execPath), q(cli), "wal-fetch", '"%f"', '"%p"', "--log-level", "warn"];
  if (req.settings.configPath) parts.push("--config", q(resolve(req.settings.configPath)));
  if (req.settings.repo) parts.push("--repo", q(/^[a-z0-9]+:\/\//i.test(req.settings.repo) ? req.settings.repo : resolve(req.settings.repo)));
  const passphraseFile = req.passphraseFile ?? process.env.HOLDFAST_PASSPHRASE_FILE;
  if (passphraseFile) parts.push("--passphrase-file", q(resolve(passphraseFile)));
  else if (req.settings.passphrase !== undefined && !req.settings.configPath) {
    throw new HoldfastError("USAGE", "restore_command needs the passphrase from a file, and it was given in HOLDFAST_PASSPHRASE", {
      hint: "use --passphrase-file (readable by the PostgreSQL OS user); the passphrase is never written into the configuration",
    });
  }
  const identityFile = req.identityFile ?? process.env.HOLDFAST_IDENTITY_FILE;
  if (identityFile) parts.push("--identity-file", q(resolve(identityFile)));
  // A segment wal-fetch already prefetched is just renamed into place by the shell: no Node start.
  const spooled = `"pg_wal/${PREFETCH_DIR}/%f"`;
  return `test -f ${spooled} && mv -f ${spooled} "%p" || ${parts.join(" ")}`;
}
