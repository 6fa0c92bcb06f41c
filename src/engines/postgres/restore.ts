import { randomBytes } from "node:crypto";
import type pg from "pg";
import { HoldfastError } from "../../errors.js";
import type { Manifest } from "../../repository/manifest.js";
import { compareTables, type CheckReport, type OpenBackupFile, type RestoreOptions, type RestoreOutcome } from "../engine.js";
import { connect, describePg, ident, withDatabase, type PgRef } from "./connection.js";
import { checksumMethodOf, listTables, STABLE_TEXT_SETTINGS, tablesFacts } from "./facts.js";
import { restoreFlags, type RestoreFlags } from "./options.js";
import { runPgRestore } from "./pg-restore.js";

/** A connection to the server's maintenance database (never the one being created or swapped). */
export function adminConnection(ref: PgRef, purpose: string): Promise<pg.Client> {
  return connect(withDatabase(ref, ref.database === "postgres" ? "template1" : "postgres"), purpose);
}

export async function databaseExists(admin: pg.Client, name: string): Promise<boolean> {
  const { rows } = await admin.query("SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", [name]);
  return rows.length > 0;
}

/** CREATE DATABASE from template0 (a pristine copy for pg_restore), with a clear error when not allowed. */
export async function createDatabase(admin: pg.Client, server: PgRef, name: string): Promise<void> {
  try {
    await admin.query(`CREATE DATABASE ${ident(name)} TEMPLATE template0`);
  } catch (err) {
    if ((err as { code?: string }).code === "42501") {
      throw new HoldfastError("RESTORE_FAILED", `${server.user ?? "this role"} may not create database "${name}" on ${describePg(withDatabase(server, "postgres"))}`, {
        hint: "use a role with CREATEDB, or give deep verify a --scratch server where Holdfast may create databases",
        cause: err,
      });
    }
    throw new HoldfastError("RESTORE_FAILED", `cannot create database "${name}": ${(err as Error).message}`, { cause: err });
  }
}

export async function dropDatabase(admin: pg.Client, name: string): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
}

/** A name next to `base` that fits PostgreSQL's 63-byte identifiers. */
export function siblingName(base: string, tag: string): string {
  const suffix = `_hf_${tag}_${randomBytes(3).toString("hex")}`;
  return Buffer.from(base).subarray(0, 63 - suffix.length).toString().replace(/\uFFFD+$/, "") + suffix;
}

/**
 * Restore plans:
 *  - new target: CREATE DATABASE, pg_restore, check; the new database is dropped on failure.
 *  - existing target: TARGET_EXISTS unless --clean or --in-place. --clean: the backup is checked
 *    to its last byte before pg_restore --clean starts, in one transaction: a damaged backup or a
 *    failing statement leaves the database as it was.
 *  - in place: restore into a temporary database beside it, check it, then swap by rename
 *    (connections refused, drained politely, then terminated); on failure the original keeps its
 *    name and data. The safety backup was taken before this (commands/restore.ts).
 */
export async function restorePostgres(open: OpenBackupFile, manifest: Manifest, target: PgRef, options: RestoreOptions): Promise<RestoreOutcome> {
  const flags = restoreFlags(options.options);
  const admin = await adminConnection(target, "restore");
  try {
    const exists = await databaseExists(admin, target.database);
    if (exists && !options.inPlace && !flags.clean) {
      throw new HoldfastError("TARGET_EXISTS", `database "${target.database}" already exists on ${describePg(withDatabase(target, "postgres"))}`, {
        hint: "restore --to a new database name, or use --in-place (safety backup, then swap) or --clean",
      });
    }
    if (exists && options.inPlace) return await restoreInPlace(admin, open, manifest, target, flags, options);
    const created = !exists;
    // --clean over an existing database: checked first, then one transaction (see runPgRestore).
    const atomic = exists;
    const warnings = atomic && flags.jobs > 1 ? [`--jobs ${flags.jobs} ignored: a --clean restore into an existing database runs as one transaction, in one job`] : [];
    if (created) await createDatabase(admin, target, target.database);
    try {
      if (created) await prepareFresh(target, manifest);
      await runPgRestore(open, manifest, target, flags, { tempDir: options.tempDir, signal: options.signal, atomic });
      // Deep verify (scratch) compares content checksums; a plain restore proves tables and row counts.
      const check = await checkPostgres(target, manifest, { ignoreUnexpected: flags.clean, checksums: target.scratch === true || flags.checksums });
      if (warnings.length > 0) check.details.warnings = warnings;
      if (!check.ok && !target.scratch) throw failedCheck(manifest, check);
      return { target: describePg(target), check };
    } catch (err) {
      if (created) await dropDatabase(admin, target.database).catch(() => undefined);
      throw err;
    }
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/**
 * pg_dump --table leaves out the schemas its tables live in: create them in a fresh database so
 * the filtered dump restores on its own.
 */
async function prepareFresh(ref: PgRef, manifest: Manifest): Promise<void> {
  const filters = manifest.details.tableFilters;
  if (!Array.isArray(filters) || filters.length === 0) return;
  const schemas = [...new Set(manifest.tables.map((t) => t.name.slice(0, t.name.indexOf("."))))].filter((s) => s && s !== "public");
  if (schemas.length === 0) return;
  const client = await connect(ref, "restore");
  try {
    for (const schema of schemas) await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function failedCheck(manifest: Manifest, check: CheckReport): HoldfastError {
  return new HoldfastError("RESTORE_FAILED", `restored copy of ${manifest.id} failed its checks: ${check.problems.slice(0, 5).join("; ")}`, {
    hint: "the target database was not kept",
  });
}

async function restoreInPlace(admin: pg.Client, open: OpenBackupFile, manifest: Manifest, target: PgRef, flags: RestoreFlags, options: RestoreOptions): Promise<RestoreOutcome> {
  const live = target.database;
  const temp = siblingName(live, "restore");
  await createDatabase(admin, target, temp);
  let check: CheckReport;
  try {
    const tempRef = withDatabase(target, temp);
    await prepareFresh(tempRef, manifest);
    await runPgRestore(open, manifest, tempRef, { ...flags, clean: false }, { tempDir: options.tempDir, signal: options.signal, atomic: false });
    check = await checkPostgres(tempRef, manifest, { ignoreUnexpected: false, checksums: true });
    if (!check.ok) throw failedCheck(manifest, check);
    await swap(admin, live, temp, flags.terminateTimeoutMs);
  } catch (err) {
    await dropDatabase(admin, temp).catch(() => undefined);
    if (err instanceof HoldfastError && err.code !== "INTERNAL") {
      throw new HoldfastError(err.code, `${err.message} (database "${live}" was left as it was)`, { hint: err.hint, cause: err });
    }
    throw new HoldfastError("RESTORE_FAILED", `in-place restore of "${live}" failed and the original was kept: ${(err as Error).message}`, { cause: err });
  }
  return { target: describePg(target), safetyCopy: flags.safetyBackupId ? `backup ${flags.safetyBackupId}` : undefined, check };
}

/** Refuse new connections, wait for the current ones to leave, then terminate the rest. */
async function drainConnections(admin: pg.Client, database: string, timeoutMs: number): Promise<void> {
  const others = async (): Promise<number> =>
    Number((await admin.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [database])).rows[0]!.n);
  const deadline = Date.now() + timeoutMs;
  while ((await others()) > 0 && Date.now() < deadline) await sleep(200);
  for (let attempt = 0; attempt < 50 && (await others()) > 0; attempt++) {
    await admin.query("SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [database]);
    await sleep(100);
  }
}

async function swap(admin: pg.Client, live: string, restored: string, terminateTimeoutMs: number): Promise<void> {
  const old = siblingName(live, "old");
  await admin.query(`ALTER DATABASE ${ident(live)} ALLOW_CONNECTIONS false`);
  try {
    await drainConnections(admin, live, terminateTimeoutMs);
    await admin.query(`ALTER DATABASE ${ident(live)} RENAME TO ${ident(old)}`);
  } catch (err) {
    await admin.query(`ALTER DATABASE ${ident(live)} ALLOW_CONNECTIONS true`).catch(() => undefined);
    throw err;
  }
  try {
    await admin.query(`ALTER DATABASE ${ident(restored)} RENAME TO ${ident(live)}`);
  } catch (err) {
    await admin.query(`ALTER DATABASE ${ident(old)} RENAME TO ${ident(live)}`).catch(() => undefined);
    await admin.query(`ALTER DATABASE ${ident(live)} ALLOW_CONNECTIONS true`).catch(() => undefined);
    throw err;
  }
  // The previous data is in the safety backup; the renamed copy would only hold disk space. The
  // swap is done: failing to drop it must not report the restore as failed (it stays, named *_hf_old_*).
  await dropDatabase(admin, old).catch(() => undefined);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Tables, row counts and content checksums of a restored database against the manifest. */
export async function checkPostgres(target: PgRef, manifest: Manifest, options: { ignoreUnexpected: boolean; checksums: boolean }): Promise<CheckReport> {
  const client = await connect(target, "check");
  try {
    await client.query(STABLE_TEXT_SETTINGS);
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const expected = new Set(manifest.tables.map((t) => t.name));
    let tables = await listTables(client);
    if (options.ignoreUnexpected) tables = tables.filter((t) => expected.has(`${t.schema}.${t.name}`));
    const level = manifest.details.schemaOnly === true ? "none" : options.checksums ? "checksums" : "counts";
    // The method each table's checksum was made with (older backups: the text method throughout).
    const methods = new Map(manifest.tables.flatMap((t) => {
      const m = checksumMethodOf(t.checksum);
      return m ? [[t.name, m] as const] : [];
    }));
    const actual = await tablesFacts(client, tables, level, methods);
    await client.query("COMMIT");
    const compared = compareTables(manifest.tables, actual);
    return { ok: compared.problems.length === 0, problems: compared.problems, tables: compared.tables, details: { database: target.database } };
  } finally {
    await client.end().catch(() => undefined);
  }
}
