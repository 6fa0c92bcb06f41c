import { rename, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { HoldfastError } from "../errors.js";
import type { Settings } from "../config/load.js";
import { PHYSICAL_ENGINE } from "../engines/postgres/physical/basebackup.js";
import { adoptOwner, disableArchiving, ensureConfigFiles, extractTar, prepareTarget, retireRecoverySettings, writeRecoverySettings } from "../engines/postgres/physical/datadir.js";
import { checkAccess, checkSpace, checkTarget, programPaths, recoveryUser, type NeededPath, type RecoveryUser } from "../engines/postgres/physical/preflight.js";
import { readTarOwner } from "../engines/postgres/physical/tar-tap.js";
import { RECOVERY_LOG, redoDoneAt, runRecovery } from "../engines/postgres/physical/recovery.js";
import { cliEntry, pgCommandLine, raw, repoArgument, type RawPart } from "../engines/postgres/physical/shell-command.js";
import { formatLsn } from "../wal/names.js";
import { finishVerified, openStoredFile } from "../pipeline/assemble.js";
import { WalArchive } from "../repository/wal-archive.js";
import { PREFETCH_DIR } from "../repository/wal-prefetch.js";
import { loadWalCatalog, reachFromBackup, type BackupReach } from "../repository/wal-catalog.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";
import { resolveSourceRef } from "./source-ref.js";
import { sourcesOf } from "../repository/selection.js";
import { describeTarget, parseTarget, pickBaseBackup, targetSettings, type RecoveryTarget, type TargetFlags } from "./physical-target.js";

export interface PhysicalRestoreRequest extends TargetFlags {
  /** A new (or empty) data directory. */
  to: string;
  /** Base backup to start from; default: chosen from the target. */
  backup?: string;
  /** Which cluster's base backups to choose from (URI or database name); required when the repository holds several. */
  source?: string;
  /** Move a non-empty target aside (kept as a safety copy) instead of refusing. */
  replace: boolean;
  settings: Settings;
  /** How restore_command finds the passphrase: the file path (never the passphrase itself). */
  passphraseFile?: string;
  identityFile?: string;
  recoveryTimeoutSeconds?: number;
  /** Let the restored server archive into this repository (a real failover); default off. */
  archive?: boolean;
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
  const source = req.source ? resolveSourceRef(req.source, req.settings) : undefined;
  const physical = (await repo.catalog()).backups.filter((m) => m.engine === PHYSICAL_ENGINE && (!source || m.source.uri === source));
  const clusters = sourcesOf(physical);
  if (!req.backup && clusters.length > 1) {
    throw new HoldfastError("USAGE", `the repository holds base backups of ${clusters.length} clusters: ${clusters.join(", ")}`, { hint: "say which with --source <uri>, or name a base backup id" });
  }
  const manifest = req.backup ? await repo.resolve(req.backup, { source, engines: [PHYSICAL_ENGINE], purpose: "a point-in-time restore" }) : pickBaseBackup(physical, target);
  if (manifest.engine !== PHYSICAL_ENGINE) throw new HoldfastError("ENGINE_MISMATCH", `backup ${manifest.id} is a ${manifest.engine} backup, not a physical base backup`);
  const catalog = await loadWalCatalog(new WalArchive(repo.backend), keys, manifest.details.walSegmentSize as number);
  const reach = reachFromBackup(catalog, manifest);
  assertReachable(reach, target, manifest.id);

  const dir = resolve(req.to);
  const file = manifest.files[0]!;
  const command = restoreCommand(req);
  const needs = await neededByRestoreCommand(req, dir);
  const user = await preflight(req, dir, file, Number(manifest.details.walSegmentSize), needs, () => openStoredFile(repo.backend, file, { keys, signal: ctx.signal }));
  const archiving = req.archive === true && !req.scratch;
  const { safetyCopy } = await prepareTarget(dir, req.replace);
  ctx.log.info({ id: manifest.id, target: dir, recoveryTarget: describeTarget(target), safetyCopy }, "physical restore started");
  try {
    const bar = ctx.progress("restore base", file.storedBytes);
    try {
      const stream = await openStoredFile(repo.backend, file, { keys, signal: ctx.signal, onProgress: (n) => bar.update(n) });
      await extractTar(stream, dir, ctx.signal);
      // tar stops at the end-of-archive blocks: the bytes it did not read are checked too.
      await finishVerified(stream);
    } finally {
      bar.stop();
    }
    const owner = await adoptOwner(dir);
    // The files ended up with another owner than the tar header predicted: check again for that one.
    if (owner.uid !== user.uid) await checkAccess(await recoveryUser({ ...owner, uname: "" }), needs, "restore_command");
    const createdConfigFiles = await ensureConfigFiles(dir, owner);
    if (!archiving) await disableArchiving(dir, owner, `backup ${manifest.id} (${describeTarget(target)})`);
    await writeRecoverySettings(dir, {
      restore_command: command,
      // The timeline Holdfast checked the archive along, not whatever "latest" finds at run time.
      recovery_target_timeline: String(reach.targetTimeline),
      recovery_target_action: "promote",
      ...targetSettings(target),
    }, owner);
    const outcome = await runRecovery(dir, owner, { timeoutSeconds: req.recoveryTimeoutSeconds ?? 86_400, archiving }).catch((err: unknown) => {
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

/** wal-fetch's default --prefetch: segments spooled in pg_wal next to the one being replayed. */
const PREFETCH_SEGMENTS = 8;

/** Folders and files restore_command (run by the server's OS user) reads, with the data directory's folders. */
async function neededByRestoreCommand(req: PhysicalRestoreRequest, dir: string): Promise<NeededPath[]> {
  const needs: NeededPath[] = [{ path: dir, what: "the restore target", access: "enter" }, ...(await programPaths(cliEntry("main.js")))];
  const repo = req.settings.repo ? repoArgument(req.settings.repo) : undefined;
  if (repo && !/^[a-z0-9]+:\/\//i.test(repo)) {
    needs.push({ path: repo, what: "the repository", access: "read" }, { path: join(repo, "holdfast.json"), what: "the repository configuration", access: "read" });
    for (const [sub, what] of [["keys", "the repository key folder"], ["wal", "the WAL archive"]] as const) {
      if (await stat(join(repo, sub)).then(() => true, () => false)) needs.push({ path: join(repo, sub), what, access: "tree" });
    }
  }
  if (req.settings.configPath) needs.push({ path: resolve(req.settings.configPath), what: "the configuration file", access: "read" });
  const passphraseFile = req.passphraseFile ?? process.env.HOLDFAST_PASSPHRASE_FILE;
  if (passphraseFile) needs.push({ path: resolve(passphraseFile), what: "the passphrase file", access: "read" });
  const identityFile = req.identityFile ?? process.env.HOLDFAST_IDENTITY_FILE;
  if (identityFile) needs.push({ path: resolve(identityFile), what: "the identity file", access: "read" });
  return needs;
}

/**
 * Before anything is written: the target is free, there is room for the base backup (plus 10 %
 * and the WAL segments recovery holds at once), and the user recovery runs as — read from the base
 * backup's first tar header, see recoveryUser — can reach everything restore_command needs.
 */
async function preflight(req: PhysicalRestoreRequest, dir: string, file: { contentBytes: number }, segmentSize: number, needs: NeededPath[], open: () => Promise<Readable>): Promise<RecoveryUser> {
  await checkTarget(dir, req.replace);
  const walHeld = (PREFETCH_SEGMENTS + 2) * (segmentSize || 16 << 20);
  await checkSpace(dir, file.contentBytes, Math.ceil(file.contentBytes / 10) + walHeld);
  const user = await recoveryUser(await readTarOwner(await open()));
  await checkAccess(user, needs, "restore_command");
  return user;
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
  const parts: (string | RawPart)[] = [process.execPath, cliEntry("main.js"), "wal-fetch", raw("%f"), raw("%p"), "--log-level", "warn"];
  if (req.settings.configPath) parts.push("--config", resolve(req.settings.configPath));
  if (req.settings.repo) parts.push("--repo", repoArgument(req.settings.repo));
  const passphraseFile = req.passphraseFile ?? process.env.HOLDFAST_PASSPHRASE_FILE;
  if (passphraseFile) parts.push("--passphrase-file", resolve(passphraseFile));
  else if (req.settings.passphrase !== undefined && !req.settings.configPath) {
    throw new HoldfastError("USAGE", "restore_command needs the passphrase from a file, and it was given in HOLDFAST_PASSPHRASE", {
      hint: "use --passphrase-file (readable by the PostgreSQL OS user); the passphrase is never written into the configuration",
    });
  }
  const identityFile = req.identityFile ?? process.env.HOLDFAST_IDENTITY_FILE;
  if (identityFile) parts.push("--identity-file", resolve(identityFile));
  // A segment wal-fetch already prefetched is just renamed into place by the shell: no Node start.
  const spooled = raw(`pg_wal/${PREFETCH_DIR}/%f`);
  return `${pgCommandLine(["test", "-f", spooled])} && ${pgCommandLine(["mv", "-f", spooled, raw("%p")])} || ${pgCommandLine(parts)}`;
}
