import { describePg, toolEnvironment, type PgRef } from "../connection.js";
import { findPostgresBinary, runTool, startTool, toolFailure, type RunningTool } from "../tools.js";

/**
 * PostgreSQL's own WAL receiver, pg_receivewal, as a child process: the replication connection
 * comes from PG* variables and a 0600 PGPASSFILE (toolEnvironment), never argv. The slot keeps the
 * server from recycling WAL the receiver has not flushed yet, so a restart loses nothing.
 */
export interface ReceiveWalOptions {
  /** Folder pg_receivewal writes segments into (completed ones, plus one `.partial`). */
  spoolDir: string;
  slot: string;
  /** Flush every write at once and report it, so the server can count it as a synchronous standby. */
  synchronous: boolean;
  /** Where the temporary PGPASSFILE goes. */
  tempDir: string;
}

function findReceiveWal(): string {
  return findPostgresBinary("pg_receivewal", { hint: "install the PostgreSQL client tools (apt-get install postgresql-client) or set HOLDFAST_PG_BIN" });
}

/** The receiver's application_name: what `synchronous_standby_names` names to make commits wait for it. */
export function receiverName(slot: string): string {
  return slot;
}

async function environment(ref: PgRef, options: ReceiveWalOptions): Promise<{ env: NodeJS.ProcessEnv; cleanup(): Promise<void> }> {
  const prepared = await toolEnvironment(ref, options.tempDir);
  prepared.env.PGAPPNAME = receiverName(options.slot);
  return prepared;
}

/** Create the physical slot unless it exists (pg_receivewal --create-slot creates, then exits). */
export async function ensureSlot(ref: PgRef, options: ReceiveWalOptions): Promise<void> {
  const { env, cleanup } = await environment(ref, options);
  try {
    const r = await runTool(findReceiveWal(), ["--create-slot", "--if-not-exists", "-S", options.slot, "-w"], { env, cwd: "/" });
    if (r.code !== 0) throw toolFailure("pg_receivewal --create-slot", r.code, r.stderr, describePg(ref));
  } finally {
    await cleanup();
  }
}

export interface RunningReceiver {
  tool: RunningTool;
  /** Settles when pg_receivewal has exited (the PGPASSFILE removed by then). */
  exited: Promise<{ code: number; stderr: string }>;
}

/**
 * Stream into the spool until stopped (SIGINT: pg_receivewal flushes, keeps its `.partial` and
 * exits 0) or the connection fails (-n: no retry of its own; the caller restarts it with backoff).
 */
export async function startReceiver(ref: PgRef, options: ReceiveWalOptions): Promise<RunningReceiver> {
  const { env, cleanup } = await environment(ref, options);
  const args = ["-D", options.spoolDir, "-S", options.slot, "-n", "-w", "-s", "1", ...(options.synchronous ? ["--synchronous"] : [])];
  const tool = startTool(findReceiveWal(), args, { env, cwd: "/" });
  const exited = tool.done.finally(() => cleanup());
  return { tool, exited };
}

export function receiverFailure(code: number, stderr: string, ref: PgRef): Error {
  return toolFailure("pg_receivewal", code, stderr, describePg(ref));
}
