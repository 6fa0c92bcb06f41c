import type pg from "pg";
import { HoldfastError } from "../errors.js";

/** How long an import waits for another import into the same database before it refuses. */
export const IMPORT_LOCK_WAIT_MS = 10_000;
const POLL_MS = 200;
/** One advisory lock key for "an import is writing into this database" (advisory locks are per database). */
const IMPORT_LOCK_KEY = "holdfast import";

/**
 * Imports into one database run one after the other: each takes a transaction-level advisory
 * lock right after BEGIN, before it fingerprints or plans, so a second import plans against what
 * the first committed (and `--strategy fail` sees the first one's rows as conflicts) instead of
 * both planning against the same old state and the second silently skipping rows at INSERT.
 * A wait past IMPORT_LOCK_WAIT_MS refuses with LOCKED; the lock goes with COMMIT or ROLLBACK.
 */
export async function takeImportLock(client: pg.Client, where: string, waitMs = IMPORT_LOCK_WAIT_MS): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok", [IMPORT_LOCK_KEY]);
    if (rows[0]?.ok) return;
    if (Date.now() >= deadline) {
      throw new HoldfastError("LOCKED", `${where}: another import into this database was still running after ${Math.round(waitMs / 1000)} s; nothing was written`, { hint: "run the imports one after the other" });
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}


/**
 * PostgreSQL 14+ checks every second that the client is still there while a statement runs, so an
 * import killed in the middle of a long INSERT (kill -9, a lost network) is rolled back and its
 * session and staging tables go at once, not when the statement (a slow trigger) would have ended.
 */
export async function abortWhenClientGoes(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  if (Number(rows[0]?.v) >= 140000) await client.query("SET client_connection_check_interval = '1s'");
}
