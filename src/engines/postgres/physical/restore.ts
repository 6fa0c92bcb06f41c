import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { HoldfastError } from "../../../errors.js";
import { finishVerified } from "../../../pipeline/assemble.js";
import type { Manifest } from "../../../repository/manifest.js";
import { reachFromBackup } from "../../../repository/wal-catalog.js";
import { PREFETCH_DIR } from "../../../repository/wal-prefetch.js";
import type { OpenBackupFile, RestoreOptions, RestoreOutcome } from "../../engine.js";
import { adoptOwner, disableArchiving, ensureConfigFiles, extractTar, prepareTarget, retireRecoverySettings, writeRecoverySettings } from "./datadir.js";
import { describePlaced, placeOriginalConfig, redirectOutsideFiles } from "./config-restore.js";
import { checkAccess, checkSpace, checkTarget, recoveryUser, type NeededPath, type RecoveryUser } from "./preflight.js";
import { RECOVERY_LOG, runRecovery } from "./recovery.js";
import { assertReachable, assertTargetReached, explainFailure } from "./recovery-checks.js";
import { neededByRestoreCommand, restoreCommand } from "./restore-command.js";
import { requireRepository } from "./snapshot.js";
import { readTarOwner } from "./tar-tap.js";
import { describeTarget, physicalRestoreOptions, targetSettings } from "./target.js";
import { startWalFetchService, type WalFetchService } from "./wal-fetch-service.js";

/** Segments the fetch service keeps ready in pg_wal ahead of the one being replayed, and how many it fetches at once. */
const PREFETCH_SEGMENTS = 8;
const PARALLEL_FETCHES = 2;

/**
 * Point-in-time restore into a new data directory: unpack the base backup, point restore_command
 * at `holdfast wal-fetch`, run PostgreSQL until it has recovered to the target and promoted, check
 * it really got there, stop it. The directory is then ready for `pg_ctl start`. Never a silent
 * partial recovery: a gap in the archive before the target fails with the missing segment and the
 * furthest reachable point. reportOnly (deep verify): recover only to the backup's consistency
 * point, archive nothing.
 */
export async function restorePhysical(open: OpenBackupFile, manifest: Manifest, dir: string, options: RestoreOptions): Promise<RestoreOutcome> {
  const started = Date.now();
  const repository = requireRepository(options.repository, "a point-in-time restore");
  const opts = physicalRestoreOptions(options.options, options.reportOnly === true);
  const target = opts.target;
  const segmentSize = Number(manifest.details.walSegmentSize);
  const catalog = await repository.walCatalog(segmentSize);
  const reach = reachFromBackup(catalog, manifest);
  assertReachable(reach, target, manifest.id);

  const file = manifest.files.find((f) => f.name === "base") ?? manifest.files[0]!;
  const needs = await neededByRestoreCommand(dir);
  const user = await preflight(dir, opts.replace, file, segmentSize, needs, () => open(file.name));
  const { safetyCopy } = await prepareTarget(dir, opts.replace);
  options.log?.info({ id: manifest.id, target: dir, recoveryTarget: describeTarget(target), safetyCopy }, "physical restore started");
  let service: WalFetchService | undefined;
  try {
    const stream = await open(file.name);
    await extractTar(stream, dir, options.signal);
    // tar stops at the end-of-archive blocks: the bytes it did not read are checked too.
    await finishVerified(stream);
    const unpacked = Date.now();
    options.log?.debug({ id: manifest.id, ms: unpacked - started, rssMb: Math.round(process.memoryUsage().rss / 1048576) }, "base backup unpacked and verified");
    const owner = await adoptOwner(dir);
    // The files ended up with another owner than the tar header predicted: check again for that one.
    if (owner.uid !== user.uid) await checkAccess(await recoveryUser({ ...owner, uname: "" }), needs, "restore_command");
    const originalConfig = await placeOriginalConfig(open, manifest, dir, owner);
    const createdConfigFiles = await ensureConfigFiles(dir, owner);
    const redirected = await redirectOutsideFiles(manifest, originalConfig, dir, owner);
    if (!opts.archive) await disableArchiving(dir, owner, `backup ${manifest.id} (${describeTarget(target)})`);
    // Recovery gets its WAL from this process, which holds the unlocked key: no scrypt per file.
    service = await startWalFetchService({
      wal: repository.wal, keys: repository.keys, dataDir: dir, owner, segmentSize,
      window: PREFETCH_SEGMENTS, parallel: PARALLEL_FETCHES, firstSegment: String(manifest.details.walStart ?? ""), log: options.log,
    });
    await writeRecoverySettings(dir, {
      restore_command: restoreCommand(service.socketPath),
      // The timeline Holdfast checked the archive along, not whatever "latest" finds at run time.
      recovery_target_timeline: String(reach.targetTimeline),
      recovery_target_action: "promote",
      ...targetSettings(target),
    }, owner);
    const recoveryStarted = Date.now();
    const outcome = await runRecovery(dir, owner, { timeoutSeconds: opts.recoveryTimeoutSeconds, archiving: opts.archive }).catch((err: unknown) => {
      // A segment that failed its checks stopped recovery: that is the error to report.
      throw service?.failure() ?? explainFailure(err, reach, target);
    });
    const recovered = Date.now();
    const walFetch = service.stats();
    await service.close();
    assertTargetReached(outcome, reach, target, catalog.segmentSize ?? segmentSize);
    await rm(join(dir, "pg_wal", PREFETCH_DIR), { recursive: true, force: true });
    options.log?.debug({ id: manifest.id, ...walFetch }, "WAL fetch service: files asked for through the socket, segments fetched");
    await retireRecoverySettings(dir);
    options.log?.info({ id: manifest.id, stoppedAt: outcome.stoppedAt, redoDone: outcome.redoDoneLsn }, "physical restore complete");
    const serverLog = `${dir}/${RECOVERY_LOG}`;
    return {
      target: dir,
      safetyCopy,
      check: { ok: true, problems: [], tables: [], details: { stoppedAt: outcome.stoppedAt, redoDoneLsn: outcome.redoDoneLsn, recoveryMs: Date.now() - started } },
      headline: `restored base backup ${manifest.id} into ${dir} and recovered to ${describeTarget(target)}`,
      details: {
        recoveryTarget: describeTarget(target),
        createdConfigFiles,
        ...(originalConfig.folder ? { originalConfig: { folder: originalConfig.folder, files: originalConfig.files } } : {}),
        ...(originalConfig.missing.length ? { configWarnings: originalConfig.missing } : {}),
        stoppedAt: outcome.stoppedAt,
        redoDoneLsn: outcome.redoDoneLsn,
        lastTransactionTime: outcome.lastTransactionTime,
        timeline: outcome.newTimeline,
        walFetch,
        // Where the time went: files in place (checked), then PostgreSQL's recovery, promotion and stop.
        seconds: { unpack: (unpacked - started) / 1000, recovery: (recovered - recoveryStarted) / 1000, total: (Date.now() - started) / 1000 },
        serverLog,
      },
      notes: [
        outcome.stoppedAt ? outcome.stoppedAt : `replayed all archived WAL (redo done at ${outcome.redoDoneLsn ?? "?"})`,
        outcome.lastTransactionTime ? `last transaction: ${outcome.lastTransactionTime}` : "",
        outcome.newTimeline ? `promoted to timeline ${outcome.newTimeline}` : "",
        createdConfigFiles.length ? `created minimal ${createdConfigFiles.join(" and ")} to start this copy (the originals lived outside the data directory, e.g. /etc/postgresql): review them` : "",
        ...describePlaced(originalConfig, dir),
        ...redirected,
        safetyCopy ? `previous directory kept at ${safetyCopy}` : "",
        `server log: ${serverLog}; start it with: pg_ctl -D ${dir} start`,
      ].filter(Boolean),
    };
  } catch (err) {
    await service?.close().catch(() => undefined);
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

/**
 * Before anything is written: the target is free, there is room for the base backup (plus 10 %
 * and the WAL segments recovery holds at once), and the user recovery runs as — read from the base
 * backup's first tar header, see recoveryUser — can reach everything restore_command needs.
 */
async function preflight(dir: string, replace: boolean, file: { contentBytes: number }, segmentSize: number, needs: NeededPath[], open: () => Promise<Readable>): Promise<RecoveryUser> {
  await checkTarget(dir, replace);
  const walHeld = (PREFETCH_SEGMENTS + 2) * (segmentSize || 16 << 20);
  await checkSpace(dir, file.contentBytes, Math.ceil(file.contentBytes / 10) + walHeld);
  const user = await recoveryUser(await readTarOwner(await open()));
  await checkAccess(user, needs, "restore_command");
  return user;
}
