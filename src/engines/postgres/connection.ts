import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { HoldfastError, registerSecret } from "../../errors.js";

/**
 * Where a PostgreSQL database lives. The password, when the URL carries one, stays in memory only:
 * child tools get it through a temporary PGPASSFILE, never argv; describe() drops it.
 */
export interface PgRef {
  host?: string;
  port?: number;
  user?: string;
  database: string;
  password?: string;
  /** Other URL parameters (sslmode, …) handed to the tools as PG* variables. */
  sslmode?: string;
  /** Set by scratch(): a throwaway database whose check report is returned, not thrown. */
  scratch?: boolean;
}

export function parsePgUrl(text: string): PgRef {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new HoldfastError("USAGE", `cannot parse PostgreSQL URL "${redactUrl(text)}"`, { hint: "write postgres://user@host:5432/dbname" });
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") throw new HoldfastError("USAGE", `not a PostgreSQL URL: ${redactUrl(text)}`);
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  registerSecret(password);
  const params = url.searchParams;
  const host = params.get("host") ?? (url.hostname ? decodeURIComponent(url.hostname) : undefined);
  const portText = params.get("port") ?? url.port;
  const database = decodeURIComponent(url.pathname.replace(/^\//, "")) || params.get("dbname") || process.env.PGDATABASE || "";
  if (!database) throw new HoldfastError("USAGE", `no database name in ${redactUrl(text)}`, { hint: "write postgres://user@host/dbname" });
  const port = portText ? Number(portText) : undefined;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new HoldfastError("USAGE", `bad port in ${redactUrl(text)}`);
  return {
    host: host || undefined,
    port,
    user: url.username ? decodeURIComponent(url.username) : params.get("user") ?? undefined,
    database,
    password,
    sslmode: params.get("sslmode") ?? undefined,
  };
}

function redactUrl(text: string): string {
  return text.replace(/(\/\/[^:/@\s]+:)[^@\s]+@/, "$1***@");
}

/** The URL recorded in manifests and messages: never a password. */
export function describePg(ref: PgRef): string {
  const user = ref.user ? `${encodeURIComponent(ref.user)}@` : "";
  const socket = ref.host?.startsWith("/");
  const hostPart = socket ? "localhost" : (ref.host ?? "");
  const params = new URLSearchParams();
  if (socket) params.set("host", ref.host!);
  if (ref.port !== undefined && socket) params.set("port", String(ref.port));
  if (ref.sslmode) params.set("sslmode", ref.sslmode);
  const port = ref.port !== undefined && !socket ? `:${ref.port}` : "";
  const query = params.toString() ? `?${params.toString().replace(/%2F/g, "/")}` : "";
  return `postgres://${user}${hostPart}${port}/${encodeURIComponent(ref.database)}${query}`;
}

export function withDatabase(ref: PgRef, database: string): PgRef {
  return { ...ref, database, scratch: undefined };
}

/** A pg client; PG* environment and ~/.pgpass fill what the URL leaves out (pg does both). */
export async function connect(ref: PgRef, purpose: string): Promise<pg.Client> {
  const client = new pg.Client({
    host: ref.host,
    port: ref.port,
    user: ref.user,
    database: ref.database,
    password: ref.password,
    ssl: ref.sslmode && ref.sslmode !== "disable" ? { rejectUnauthorized: ref.sslmode === "verify-full" } : undefined,
    application_name: `holdfast ${purpose}`,
    connectionTimeoutMillis: 15_000,
  });
  client.on("error", () => undefined); // surfaced through the failing query instead
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw connectionError(err, ref);
  }
  return client;
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
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSSLMODE"]) delete env[key];
  if (ref.host) env.PGHOST = ref.host;
  else if (process.env.PGHOST) env.PGHOST = process.env.PGHOST;
  if (ref.port) env.PGPORT = String(ref.port);
  else if (process.env.PGPORT) env.PGPORT = process.env.PGPORT;
  if (ref.user) env.PGUSER = ref.user;
  else if (process.env.PGUSER) env.PGUSER = process.env.PGUSER;
  env.PGDATABASE = ref.database;
  if (ref.sslmode) env.PGSSLMODE = ref.sslmode;
  else if (process.env.PGSSLMODE) env.PGSSLMODE = process.env.PGSSLMODE;
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
