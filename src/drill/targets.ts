import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { HoldfastError } from "../errors.js";
import type { Engine } from "../engines/engine.js";
import { connect, describePg, parsePgUrl, withDatabase, type PgRef } from "../engines/postgres/connection.js";
import { adminConnection, databaseExists, dropDatabase } from "../engines/postgres/restore.js";
import type { Manifest } from "../repository/manifest.js";
import { processAlive } from "../repository/claims.js";
import type { DrillProbe } from "./probe.js";
import { pgProbe } from "./pg-probe.js";
import { sqliteProbe } from "./sqlite-probe.js";
import { startCluster } from "./restored-cluster.js";
import { claimFolder, FOLDER_PREFIX, releaseFolder, sweepFolders } from "./scratch-folder.js";

/** A scratch target the drill named and owns: where the engine restores, and how the checks reach it. */
export interface DrillTarget {
  ref: unknown;
  description: string;
  /** Connect for the checks (the physical engine's copy is started first); close() stops it. */
  open(): Promise<DrillProbe>;
  /** Remove everything the drill created; never throws. */
  release(): Promise<void>;
}

export interface TargetOptions {
  drillId: string;
  /** --scratch: a folder (SQLite, physical) or a PostgreSQL server URL (logical). */
  scratch?: string;
  tmpDir: string;
}

/** The engines a drill knows how to check once restored (the small per-engine part of the drill). */
export const DRILL_ENGINES = ["sqlite", "postgres", "postgres-physical"];

export async function prepareTarget(engine: Engine<unknown>, manifest: Manifest, options: TargetOptions): Promise<DrillTarget> {
  if (engine.name === "postgres") return scratchDatabase(engine, manifest, options);
  if (options.scratch && /^[a-z]+:\/\//i.test(options.scratch)) throw new HoldfastError("USAGE", `--scratch for a ${engine.name} backup is a folder, not ${options.scratch}`);
  const folder = options.scratch ? resolve(options.scratch) : join(options.tmpDir, `${FOLDER_PREFIX}${options.drillId}`);
  await claimFolder(folder, options.drillId);
  try {
    const { ref } = await engine.scratch(manifest, folder, {});
    const description = engine.describe(ref);
    if (engine.name === "sqlite") return { ref, description, open: async () => sqliteProbe((ref as { path: string }).path), release: () => releaseFolder(folder) };
    const dataDir = (ref as { dataDir: string }).dataDir;
    const source = parsePgUrl(manifest.source.uri);
    return {
      ref,
      description,
      async open() {
        const cluster = await startCluster(dataDir, folder);
        try {
          const probe = await pgProbe({ host: cluster.socketDir, port: cluster.port, user: source.user ?? cluster.osUser, database: source.database });
          return { ...probe, close: async () => { await probe.close(); await cluster.stop(); } };
        } catch (err) {
          await cluster.stop();
          throw err;
        }
      },
      release: () => releaseFolder(folder),
    };
  } catch (err) {
    await releaseFolder(folder);
    throw err;
  }
}

/**
 * Scratch databases are named holdfast_drill_<host tag>_<pid>_<random>: the name is the marker, so
 * a drill killed before it could drop its database is recognised (this host, a dead process) and
 * dropped by the next drill on the same server.
 */
const hostTag = (): string => createHash("sha256").update(hostname()).digest("hex").slice(0, 6);
const DB_PREFIX = "holdfast_drill_";

function scratchServer(manifest: Manifest, scratch: string | undefined): PgRef {
  return parsePgUrl(scratch ?? manifest.source.uri);
}

async function scratchDatabase(engine: Engine<unknown>, manifest: Manifest, options: TargetOptions): Promise<DrillTarget> {
  const server = scratchServer(manifest, options.scratch);
  const name = `${DB_PREFIX}${hostTag()}_${process.pid}_${randomBytes(3).toString("hex")}`;
  const ref: PgRef = { ...withDatabase(server, name), scratch: true };
  const admin = await adminConnection(ref, "drill");
  try {
    if (await databaseExists(admin, name)) throw new HoldfastError("TARGET_EXISTS", `scratch database "${name}" already exists on ${describePg(withDatabase(server, "postgres"))} and is not this drill's`);
  } finally {
    await admin.end().catch(() => undefined);
  }
  return {
    ref,
    description: engine.describe(ref),
    open: () => pgProbe(ref),
    async release() {
      await dropScratch(ref, name).catch(() => undefined);
    },
  };
}

async function dropScratch(server: PgRef, name: string): Promise<void> {
  const admin = await adminConnection(withDatabase(server, name), "drill cleanup");
  try {
    await dropDatabase(admin, name);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/** Remove what drills killed on this host left behind: scratch folders in tmpDir, scratch databases on the server. */
export async function sweepAbandonedDrills(engine: Engine<unknown>, manifest: Manifest, options: Omit<TargetOptions, "drillId">): Promise<string[]> {
  const removed = await sweepFolders(options.tmpDir);
  if (engine.name !== "postgres") return removed;
  const server = scratchServer(manifest, options.scratch);
  const client = await connect(withDatabase(server, server.database === "postgres" ? "template1" : "postgres"), "drill sweep").catch(() => undefined);
  if (!client) return removed;
  try {
    const { rows } = await client.query<{ datname: string }>("SELECT datname FROM pg_catalog.pg_database WHERE starts_with(datname, $1)", [`${DB_PREFIX}${hostTag()}_`]);
    for (const { datname } of rows) {
      const pid = Number(datname.split("_")[3]);
      if (!pid || pid === process.pid || processAlive(pid)) continue;
      await dropDatabase(client, datname);
      removed.push(`database ${datname}`);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  return removed;
}
