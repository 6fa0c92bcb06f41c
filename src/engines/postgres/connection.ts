import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { existsSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import pg from "pg";
import { HoldfastError } from "../../errors.js";
import { tlsFailure, tlsPlan } from "./tls.js";
import { withoutHoldfastSecrets } from "./tools.js";
import { describePg, osUser, TLS_KEYS, type PgRef } from "./pg-ref.js";

/** Reading and describing a connection string needs no driver: pg-ref.ts; connecting does. */
export { describePg, isKeywordValue, isPgConnection, parsePgUrl, withDatabase, type PgRef } from "./pg-ref.js";

/**
 * A pg client, connected as libpq would: PG* variables and ~/.pgpass fill what the string leaves
 * out (pg reads PGPASSWORD/~/.pgpass itself), the OS user by default, the local socket folder when
 * no host is given, and TLS per sslmode (tls.ts).
 */
export async function connect(ref: PgRef, purpose: string): Promise<pg.Client> {
  const host = ref.host ?? (process.env.PGHOST || defaultSocketDir());
  const plan = tlsPlan({ ...ref, host });
  const attempt = async (ssl: false | ConnectionOptions): Promise<pg.Client> => {
    const client = new pg.Client({
      host,
      port: ref.port ?? (Number(process.env.PGPORT) || 5432),
      user: ref.user ?? (process.env.PGUSER || osUser()),
      database: ref.database,
      password: ref.password,
      ssl,
      application_name: `holdfast ${purpose}`,
      connectionTimeoutMillis: 15_000,
    });
    client.on("error", () => undefined); // surfaced through the failing query instead
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  };
  try {
    try {
      return await attempt(plan.ssl);
    } catch (err) {
      // allow/prefer: a server without TLS is reached in plain text, as libpq does.
      if (plan.fallback && /server does not support SSL/i.test((err as Error).message)) return await attempt(false);
      throw err;
    }
  } catch (err) {
    throw tlsFailure(err, plan, describePg(ref)) ?? connectionError(err, ref);
  }
}

/** libpq's compiled-in socket folder: Debian's /var/run/postgresql, else /tmp. */
function defaultSocketDir(): string {
  return existsSync("/var/run/postgresql") ? "/var/run/postgresql" : "/tmp";
}

/** Map connection failures to the error family; the password never appears (redact() runs on output too). */
export function connectionError(err: unknown, ref: PgRef): HoldfastError {
  if (err instanceof HoldfastError) return err;
  const e = err as { code?: string; message?: string };
  const where = describePg(ref);
  const message = e?.message ?? String(err);
  if (e?.code === "28P01" || e?.code === "28000" || /password authentication failed|SASL|password must be a string|no password supplied|no pg_hba.conf entry/i.test(message)) {
    return new HoldfastError("AUTH_FAILED", `authentication failed for ${where}`, {
      hint: "check the user and password (URL, PGPASSWORD or ~/.pgpass) and pg_hba.conf",
      cause: err,
    });
  }
  if (e?.code === "3D000" || /database ".*" does not exist/.test(message)) {
    return new HoldfastError("DATABASE_MISSING", `database "${ref.database}" does not exist on ${where}`, { cause: err });
  }
  if (["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ETIMEDOUT", "ENOENT", "ECONNRESET", "EAI_AGAIN"].includes(e?.code ?? "") || /timeout|connect/i.test(message)) {
    return new HoldfastError("CONNECTION_FAILED", `cannot reach the PostgreSQL server of ${where}: ${e?.code ?? message}`, {
      hint: "is the server running and the host/port right?",
      cause: err,
    });
  }
  return new HoldfastError("INTERNAL", `${where}: ${message}`, { cause: err });
}

function escapePgpass(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/:/g, "\\:");
}

/**
 * Environment for pg_dump/pg_restore/psql: connection in PG* variables (nothing in argv), the
 * password in a 0600 PGPASSFILE removed by cleanup(). Without a URL password the tools fall back
 * to the caller's PGPASSWORD/PGPASSFILE/~/.pgpass exactly as libpq does.
 */
export async function toolEnvironment(ref: PgRef, tempDir: string): Promise<{ env: NodeJS.ProcessEnv; cleanup(): Promise<void> }> {
  // The repository's secrets are Holdfast's alone: PostgreSQL's tools never see them.
  const env = withoutHoldfastSecrets(process.env);
  for (const key of ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"]) delete env[key];
  if (ref.host) env.PGHOST = ref.host;
  else if (process.env.PGHOST) env.PGHOST = process.env.PGHOST;
  if (ref.port) env.PGPORT = String(ref.port);
  else if (process.env.PGPORT) env.PGPORT = process.env.PGPORT;
  if (ref.user) env.PGUSER = ref.user;
  else if (process.env.PGUSER) env.PGUSER = process.env.PGUSER;
  env.PGDATABASE = ref.database;
  const tlsEnv = { sslmode: "PGSSLMODE", sslrootcert: "PGSSLROOTCERT", sslcert: "PGSSLCERT", sslkey: "PGSSLKEY" } as const;
  for (const key of TLS_KEYS) {
    const value = ref[key] ?? process.env[tlsEnv[key]];
    if (value) env[tlsEnv[key]] = value;
  }
  if (!ref.password) return { env, cleanup: async () => undefined };
  const file = join(tempDir, `.holdfast-pgpass-${randomBytes(6).toString("hex")}`);
  await writeFile(file, `*:*:*:*:${escapePgpass(ref.password)}\n`, { mode: 0o600, flag: "wx" });
  env.PGPASSFILE = file;
  delete env.PGPASSWORD;
  return { env, cleanup: () => rm(file, { force: true }) };
}

/** Quote an identifier for SQL text. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
