import type { Readable } from "node:stream";
import type pg from "pg";
import { HoldfastError } from "../../../errors.js";
import { connect, describePg, toolEnvironment, type PgRef } from "../connection.js";
import { pipeOutput, startTool, toolFailure } from "../tools.js";
import { findServerTool } from "./server-tools.js";
import { parseBackupLabel, parseLsn } from "../../../wal/names.js";
import { BackupTarTap } from "./tar-tap.js";

export { PHYSICAL_ENGINE } from "./kind.js";

/** What the server says about itself and its archiving, before a base backup. */
export interface PhysicalFacts {
  version: string;
  sizeBytes: number;
  systemIdentifier: string;
  walSegmentSize: number;
  walLevel: string;
  archiveMode: string;
  archiveCommand: string;
  inRecovery: boolean;
}

export async function probePhysical(ref: PgRef): Promise<PhysicalFacts> {
  return withPhysicalClient(ref, (client) => readPhysicalFacts(client, ref));
}

/** One connection for what a base backup learns before it starts (facts, configuration files). */
export async function withPhysicalClient<T>(ref: PgRef, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(ref, "physical backup");
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function readPhysicalFacts(client: pg.Client, ref: PgRef): Promise<PhysicalFacts> {
  try {
    const one = async (sql: string): Promise<Record<string, unknown>> => (await client.query(sql)).rows[0] as Record<string, unknown>;
    const settings = await one(`SELECT current_setting('server_version') AS version,
        current_setting('wal_level') AS wal_level, current_setting('archive_mode') AS archive_mode,
        current_setting('archive_command') AS archive_command,
        (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size') AS seg,
        pg_is_in_recovery() AS in_recovery,
        (SELECT sum(pg_database_size(oid))::bigint FROM pg_database) AS size`);
    const system = await one("SELECT system_identifier::text AS id FROM pg_control_system()").catch(() => ({ id: "unknown" }));
    return {
      version: String(settings.version),
      sizeBytes: Number(settings.size),
      systemIdentifier: String(system.id),
      walSegmentSize: Number(settings.seg),
      walLevel: String(settings.wal_level),
      archiveMode: String(settings.archive_mode),
      archiveCommand: String(settings.archive_command),
      inRecovery: Boolean(settings.in_recovery),
    };
  } catch (err) {
    if (err instanceof HoldfastError) throw err;
    throw new HoldfastError("BACKUP_FAILED", `cannot read the settings of ${describePg(ref)}: ${(err as Error).message}`);
  }
}

/** Refuse a base backup that could never be restored: WAL is only kept if it is archived. */
export function assertArchiving(facts: PhysicalFacts, where: string): void {
  if (facts.walLevel === "minimal") {
    throw new HoldfastError("ARCHIVING_NOT_SET_UP", `${where} has wal_level = minimal: base backups and WAL archiving need replica or logical`, { hint: "see `holdfast setup-archiving`" });
  }
  if (facts.archiveMode === "off" || !/wal-push/.test(facts.archiveCommand)) {
    throw new HoldfastError("ARCHIVING_NOT_SET_UP", `${where} does not archive its WAL with holdfast (archive_mode = ${facts.archiveMode}, archive_command = '${facts.archiveCommand}')`, {
      hint: "a base backup without its WAL cannot be restored; `holdfast setup-archiving <url>` shows the settings",
    });
  }
}

export interface RunningBaseBackup {
  /** The tar stream of the base backup (one tablespace; WAL comes from the archive); fails when pg_basebackup does. */
  stream: Readable;
  /** Settles when pg_basebackup has exited successfully. */
  done: Promise<void>;
  /** Once the stream has been consumed: the WAL range (backup_label, backup_manifest's WAL-Ranges). */
  walRange(): { startLsn: number; stopLsn: number; timeline: number };
  cleanup(): Promise<void>;
}

/**
 * pg_basebackup -D - -Ft -X none: one tar on stdout through the replication protocol. With -X none
 * the server waits until the last segment of the backup is archived before pg_basebackup ends.
 */
export async function startBaseBackup(ref: PgRef, options: { tempDir: string; label: string; signal?: AbortSignal }): Promise<RunningBaseBackup> {
  const tool = findServerTool("pg_basebackup");
  const { env, cleanup } = await toolEnvironment(ref, options.tempDir);
  const args = ["-D", "-", "-F", "t", "-X", "none", "-c", "fast", "-l", options.label];
  const running = startTool(tool, args, { env, signal: options.signal });
  const where = describePg(ref);
  const tap = new BackupTarTap();
  // The tar ends cleanly only when pg_basebackup succeeded; otherwise it ends with its error.
  pipeOutput(running, tap, { end: false });
  const done = running.done.then(({ code, stderr }) => {
    if (code !== 0) throw toolFailure("pg_basebackup", code, stderr, where);
  });
  done.then(() => tap.end(), (err: unknown) => tap.destroy(err as Error));
  const walRange = () => {
    const label = parseBackupLabel(tap.backupLabel ?? "");
    const start = /^([0-9A-F]+\/[0-9A-F]+)/.exec(label["START WAL LOCATION"] ?? "")?.[1];
    const timeline = Number(label["START TIMELINE"]);
    const end = tap.walRanges().at(-1)?.endLsn;
    if (!start || !timeline || !end) {
      throw new HoldfastError("BACKUP_FAILED", `the base backup of ${where} lacks ${!start || !timeline ? "a readable backup_label" : "a backup_manifest with WAL-Ranges"}`);
    }
    return { startLsn: parseLsn(start), stopLsn: parseLsn(end), timeline };
  };
  return { stream: tap, done, walRange, cleanup };
}
