import { chmod, readFile } from "node:fs/promises";
import { join } from "node:path";
import { HoldfastError } from "../../../errors.js";
import type { Manifest } from "../../../repository/manifest.js";
import { reachFromBackup } from "../../../repository/wal-catalog.js";
import type { CheckReport, Engine, SourceFacts } from "../../engine.js";
import { describePg, type PgRef } from "../pg-ref.js";
import { majorOf } from "../tools.js";
import { probePhysical } from "./basebackup.js";
import { physicalTraits, type PhysicalRef } from "./kind.js";
import { restorePhysical } from "./restore.js";
import { snapshotPhysical } from "./snapshot.js";
import { pickBaseBackup, targetFromOptions } from "./target.js";

export type { PhysicalRef } from "./kind.js";

function dataDirOf(ref: PhysicalRef): string {
  if ("dataDir" in ref) return ref.dataDir;
  throw new HoldfastError("USAGE", `a physical base backup restores into a data directory, not into ${describePg(ref.server)}`, { hint: "say where: --to <new data directory>" });
}

function serverOf(ref: PhysicalRef): PgRef {
  if ("server" in ref) return ref.server;
  throw new HoldfastError("USAGE", `a base backup is taken of a running server (postgres://…), not of the directory ${ref.dataDir}`);
}

/**
 * PostgreSQL physical backups: pg_basebackup into the repository while the server archives its WAL
 * there (wal-push); restores replay that WAL to any point in time through restore_command (wal-fetch).
 */
export const physicalEngine: Engine<PhysicalRef> = {
  ...physicalTraits,

  async probe(ref: PhysicalRef): Promise<SourceFacts> {
    const facts = await probePhysical(serverOf(ref));
    return { version: facts.version, sizeBytes: facts.sizeBytes, tables: [], details: { ...facts } };
  },

  snapshot(ref, ctx) {
    return snapshotPhysical(serverOf(ref), ctx);
  },

  restore(open, manifest, target, options) {
    return restorePhysical(open, manifest, dataDirOf(target), options);
  },

  /** A restored data directory: the major version the backup was taken of (the rows are checked by starting it). */
  async check(target: PhysicalRef, manifest: Manifest): Promise<CheckReport> {
    const dir = dataDirOf(target);
    const version = (await readFile(join(dir, "PG_VERSION"), "utf8").catch(() => "")).trim();
    const expected = String(majorOf(manifest.source.version));
    const problems = version === expected ? [] : [version ? `${dir} is a PostgreSQL ${version} data directory, the backup is of ${expected}` : `${dir} has no PG_VERSION`];
    return { ok: problems.length === 0, problems, tables: [], details: { pgVersion: version } };
  },

  /** A data directory inside `dir`; PostgreSQL runs as its owner and must be able to pass through (not list) `dir`. */
  async scratch(_manifest: Manifest, dir: string) {
    await chmod(dir, 0o711);
    return { ref: { dataDir: join(dir, "data") }, dispose: async () => undefined };
  },

  pickForRestore(backups, options) {
    return pickBaseBackup(backups, targetFromOptions(options));
  },

  /** The WAL that makes the base backup consistent must all be archived. */
  async verifyStored(manifest, repository) {
    const catalog = await repository.walCatalog(manifest.details.walSegmentSize as number);
    const reach = reachFromBackup(catalog, manifest);
    if (!reach.consistent) {
      throw new HoldfastError("VERIFY_FAILED", `WAL segment ${reach.nextNeeded}, needed to make this base backup consistent (up to ${String(manifest.details.stopLsn)}), is missing from the archive`, {
        hint: "this base backup cannot be restored; take a new one",
      });
    }
  },
};
