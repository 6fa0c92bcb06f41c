import type { Settings } from "../config/load.js";
import type { CommandContext } from "../commands/context.js";
import { openRepository } from "../commands/open-repository.js";
import { setupArchiving } from "../commands/setup-archiving.js";
import { connect, describePg, parsePgUrl } from "../engines/postgres/connection.js";
import { PHYSICAL_ENGINE } from "../engines/postgres/physical/kind.js";
import { HoldfastError } from "../errors.js";
import type { Manifest } from "../repository/manifest.js";
import { recoveryWindowOf, type RecoveryWindow } from "../repository/recovery-window.js";
import { WalArchive } from "../repository/wal-archive.js";
import { loadWalCatalog } from "../repository/wal-catalog.js";
import { parseLsn } from "../wal/names.js";

/** The way back of an upgrade that took a restore point instead of a backup (upgrade --rollback-point restore-point). */
export interface UpgradeRestorePoint {
  /** pg_create_restore_point's name: holdfast-upgrade-<run id>. */
  name: string;
  lsn: string;
  /** The WAL segment holding it, archived into the repository before the migrations ran. */
  segment: string;
  /** The newest base backup before it, from which the archive reaches it without a gap. */
  baseBackupId: string;
  /** The command that restores the cluster as it was at the restore point (into a new data directory). */
  restoreCommand: string;
}

const REFUSE_HINT = "run the upgrade with a logical backup instead (--rollback-point backup, the default)";

/**
 * Before a restore point is worth anything: the server archives into this repository
 * (setup-archiving's checks), a base backup of this server is in it, and — unless `wholeCluster` —
 * the cluster holds no other database (a point-in-time restore takes the whole cluster back).
 * Refusals are UPGRADE_REFUSED, before anything changed. Returns the server's system identifier.
 */
export async function checkRestorePointPossible(url: string, settings: Settings, wholeCluster: boolean, ctx: CommandContext): Promise<string> {
  const archiving = await setupArchiving(url, settings, ctx);
  const failed = archiving.checks.filter((c) => !c.ok);
  if (failed.length > 0) throw new HoldfastError("UPGRADE_REFUSED", `${archiving.server} does not archive WAL into this repository: ${failed.map((c) => `${c.name}: ${c.detail}`).join("; ")}`, { hint: `see holdfast setup-archiving, or ${REFUSE_HINT}` });
  const client = await connect(parsePgUrl(url), "upgrade restore point");
  try {
    const { rows } = await client.query<{ id: string; others: string[] }>(`SELECT (SELECT system_identifier::text FROM pg_control_system()) AS id,
      ARRAY(SELECT datname::text FROM pg_database WHERE NOT datistemplate AND datname NOT IN (current_database(), 'postgres') ORDER BY datname) AS others`);
    const { id, others } = rows[0]!;
    if (others.length > 0 && !wholeCluster) {
      throw new HoldfastError("UPGRADE_REFUSED", `the cluster of ${describePg(parsePgUrl(url))} also holds ${others.join(", ")}: rolling back to a restore point takes every database of the cluster back`, { hint: `pass --whole-cluster if that is what you want, or ${REFUSE_HINT}` });
    }
    const { window } = await physicalWindow(id, settings);
    if (!window) throw new HoldfastError("UPGRADE_REFUSED", `no base backup of ${archiving.server} (system ${id}) can be rolled forward from the archive in this repository`, { hint: `take one first: holdfast backup --type physical ${describePg(parsePgUrl(url))}; or ${REFUSE_HINT}` });
    return id;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * pg_create_restore_point('holdfast-upgrade-<run id>'), then a WAL switch so its segment is
 * archived; waits (up to `timeoutMs`) until that segment is in the repository and the archive
 * reaches the restore point from a base backup without a gap. Throws when it does not.
 */
export async function createRestorePoint(url: string, runId: string, systemId: string, settings: Settings, timeoutMs = 60_000): Promise<UpgradeRestorePoint> {
  const name = `holdfast-upgrade-${runId}`;
  const client = await connect(parsePgUrl(url), "upgrade restore point");
  let lsn: string;
  let segment: string;
  try {
    const made = await client.query<{ lsn: string; segment: string }>("SELECT p::text AS lsn, pg_walfile_name(p) AS segment FROM pg_create_restore_point($1) AS p", [name]);
    ({ lsn, segment } = made.rows[0]!);
    await client.query("SELECT pg_switch_wal()");
  } finally {
    await client.end().catch(() => undefined);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { window, archive } = await physicalWindow(systemId, settings);
    const archived = (await archive.record(segment)) !== undefined;
    if (archived && window && parseLsn(window.latest.lsn) >= parseLsn(lsn)) {
      const restoreCommand = `holdfast restore ${window.latest.backupId} --type physical --to <new data directory> --target-name ${name}`;
      return { name, lsn, segment, baseBackupId: window.latest.backupId, restoreCommand };
    }
    if (Date.now() > deadline) {
      const why = archived ? `the archive has a gap before it (it reaches ${window?.latest.lsn ?? "no base backup"})` : `its segment ${segment} was not archived within ${Math.round(timeoutMs / 1000)} s`;
      throw new HoldfastError("UPGRADE_REFUSED", `restore point ${name} at ${lsn} cannot be reached from the repository: ${why}`, { hint: `check holdfast setup-archiving and holdfast wal verify; or ${REFUSE_HINT}` });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The recovery window of this server's base backups (matched by system identifier) in the repository. */
async function physicalWindow(systemId: string, settings: Settings): Promise<{ window?: RecoveryWindow; archive: WalArchive }> {
  const { repo, keys } = await openRepository(settings, "if-possible");
  const archive = new WalArchive(repo.backend);
  const bases = (await repo.catalog()).backups.filter((m: Manifest) => m.engine === PHYSICAL_ENGINE && String(m.details.systemIdentifier) === systemId);
  if (bases.length === 0) return { archive };
  const catalog = await loadWalCatalog(archive, keys, bases.at(-1)!.details.walSegmentSize as number);
  return { window: recoveryWindowOf(bases, catalog), archive };
}
