import { createReadStream } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { finished } from "node:stream/promises";
import type pg from "pg";
import { HoldfastError } from "../../errors.js";
import type { OperationContext, Snapshot, SnapshotFile, SourceFacts } from "../engine.js";
import { connect, describePg, toolEnvironment, type PgRef } from "./connection.js";
import { listTables, serverFacts, STABLE_TEXT_SETTINGS, tablesFacts } from "./facts.js";
import { dumpOptions, pgDumpArgs, selectTables } from "./options.js";
import { findTool, pipeOutput, startTool, terminate, toolFailure, toolVersion, type RunningTool } from "./tools.js";

/**
 * One consistent snapshot: a REPEATABLE READ transaction exports its snapshot, pg_dump imports it
 * (--snapshot) and the row counts and checksums are computed in that same transaction while the
 * dump runs. The transaction stays open until pg_dump has finished.
 */
export async function snapshotPostgres(ref: PgRef, ctx: OperationContext): Promise<Snapshot> {
  const options = dumpOptions(ctx.options);
  const where = describePg(ref);
  const pgDump = findTool("pg_dump");
  const dumpVersion = await toolVersion(pgDump);
  const client = await connect(ref, "backup");
  const cleanups: (() => Promise<unknown>)[] = [async () => client.end()];
  let disposed = false;
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    await client.query(STABLE_TEXT_SETTINGS);
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const snapshotId = (await client.query<{ id: string }>("SELECT pg_catalog.pg_export_snapshot() AS id")).rows[0]!.id;
    const server = await serverFacts(client);
    const serverMajor = Math.floor(server.serverVersionNum / 10000);
    if (dumpVersion.major < serverMajor) {
      throw new HoldfastError("TOOL_VERSION", `pg_dump ${dumpVersion.text} (${pgDump}) is older than the server ${server.serverVersion} of ${where}`, {
        hint: `install the PostgreSQL ${serverMajor} client tools (or set HOLDFAST_PG_BIN to their bin folder)`,
      });
    }
    const { env, cleanup } = await toolEnvironment(ref, ctx.tempDir);
    cleanups.push(cleanup);
    let outputDir: string | undefined;
    if (options.format === "directory") {
      const dir = await mkdtemp(join(ctx.tempDir, "holdfast-pgdump-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      outputDir = join(dir, "dump");
    }
    const tool = startTool(pgDump, pgDumpArgs(options, snapshotId, outputDir), { env, signal: ctx.signal });
    cleanups.push(async () => {
      terminate(tool.child);
      await tool.done;
    });
    const facts = collectFacts(client, options, server, dumpVersion.text, snapshotId, tool, where);
    facts.catch(() => undefined); // observed by the caller
    if (options.format === "custom") return { files: customFile(tool, where), facts, dispose };
    // The directory's files are complete once pg_dump has finished: stored as many at a time as it dumped.
    return { files: directoryFiles(tool, outputDir!, where), parallel: options.jobs, facts, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

async function collectFacts(
  client: pg.Client,
  options: ReturnType<typeof dumpOptions>,
  server: Awaited<ReturnType<typeof serverFacts>>,
  pgDumpVersion: string,
  snapshotId: string,
  tool: RunningTool,
  where: string,
): Promise<SourceFacts> {
  const tables = selectTables(await listTables(client), options);
  const facts = await tablesFacts(client, tables, options.schemaOnly ? "none" : "checksums");
  // Keep the exporting transaction open until pg_dump (and its workers) have imported the snapshot and finished.
  const result = await tool.done;
  await client.query("COMMIT");
  if (result.code !== 0) throw toolFailure("pg_dump", result.code, result.stderr, where);
  return {
    version: server.serverVersion,
    sizeBytes: server.databaseSizeBytes,
    tables: facts,
    details: {
      pgDumpVersion,
      serverVersion: server.serverVersion,
      serverVersionNum: server.serverVersionNum,
      databaseSizeBytes: server.databaseSizeBytes,
      dumpFormat: options.format,
      jobs: options.jobs,
      schemaOnly: options.schemaOnly,
      dataOnly: options.dataOnly,
      tableFilters: options.tables,
      excludeTableFilters: options.excludeTables,
      extensions: server.extensions,
      migrationVersion: server.migrationVersion ?? null,
      snapshotId,
      checksumMethod: "per table, by prefix: rh64sum = sum of hash_record_extended(row, 0); h64sum = sum of hashtextextended(row::text, 0) in UTC/ISO text settings",
    },
  };
}

/** pg_dump's stdout, ending with an error instead of a clean end when pg_dump fails. */
async function* customFile(tool: RunningTool, where: string): AsyncGenerator<SnapshotFile> {
  const out = new PassThrough({ highWaterMark: 256 << 10 });
  const stdout = tool.child.stdout!;
  pipeOutput(tool, out, { end: false });
  void Promise.all([tool.done, finished(stdout).catch(() => undefined)]).then(([{ code, stderr }]) => {
    if (code === 0) out.end();
    else out.destroy(toolFailure("pg_dump", code, stderr, where));
  });
  yield { name: "dump", extension: ".pgdump", stream: out };
}

/** Directory format: wait for pg_dump, then store toc.dat and every data file. */
async function* directoryFiles(tool: RunningTool, dir: string, where: string): AsyncGenerator<SnapshotFile> {
  tool.child.stdout!.resume();
  const { code, stderr } = await tool.done;
  if (code !== 0) throw toolFailure("pg_dump", code, stderr, where);
  const names = (await readdir(dir)).sort((a, b) => (a === "toc.dat" ? -1 : b === "toc.dat" ? 1 : a.localeCompare(b)));
  for (const name of names) yield { name: `dir-${name}`, extension: "", stream: createReadStream(join(dir, name), { highWaterMark: 1 << 20 }) };
}
