import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import type { ConnectionOptions } from "node:tls";
import pg from "pg";
import { parse } from "pg-connection-string";
import { HoldfastError, registerSecret } from "../../errors.js";
import { sslMode, tlsFailure, tlsPlan } from "./tls.js";
import { withoutHoldfastSecrets } from "./tools.js";

/**
 * Where a PostgreSQL database lives. The password, when the URL carries one, stays in memory only:
 * child tools get it through a temporary PGPASSFILE, never argv; describe() drops it. What the
 * string leaves out is filled as libpq does, when connecting (PG* variables, the OS user, the
 * default socket folder): describe() shows what the user wrote.
 */
export interface PgRef {
  host?: string;
  port?: number;
  user?: string;
  database: string;
  password?: string;
  /** TLS parameters, as libpq names them (see tls.ts); handed to the tools as PG* variables. */
  sslmode?: string;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  /** Set by scratch(): a throwaway database whose check report is returned, not thrown. */
  scratch?: boolean;
}

const TLS_KEYS = ["sslmode", "sslrootcert", "sslcert", "sslkey"] as const;

/** libpq's keyword/value form: `host=/tmp dbname=app user=x`. */
export function isKeywordValue(text: string): boolean {
  return /^\s*[A-Za-z_]+\s*=/.test(text);
}

/** A PostgreSQL connection string in either of libpq's forms (URI or keyword/value). */
export function isPgConnection(text: string): boolean {
  return /^postgres(ql)?:/i.test(text) || isKeywordValue(text);
}

/**
 * A connection string as libpq takes it: a URI (postgres://user:pw@host:port/db?param=…, with
 * host=/socket/dir or a percent-encoded socket host, host-less postgres:///db) parsed by
 * pg-connection-string, or a keyword/value string (host=/tmp dbname=app user=x).
 */
export function parsePgUrl(text: string): PgRef {
  const uri = /^postgres(ql)?:\/\//i.test(text);
  const fields = uri ? parseUri(text) : parseKeywords(text);
  registerSecret(fields.password);
  const database = fields.dbname || process.env.PGDATABASE || fields.user || process.env.PGUSER || osUser();
  const portText = fields.port;
  const port = portText ? Number(portText) : undefined;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new HoldfastError("USAGE", `bad port in ${redactUrl(text)}`);
  const ref: PgRef = { host: fields.host || undefined, port, user: fields.user || undefined, database, password: fields.password || undefined };
  for (const key of TLS_KEYS) if (fields[key]) ref[key] = fields[key];
  if (ref.sslmode) sslMode(ref); // refuse an unknown mode now rather than at the first connection
  return ref;
}

type Fields = Partial<Record<"host" | "port" | "user" | "password" | "dbname" | (typeof TLS_KEYS)[number], string>>;

function parseUri(text: string): Fields {
  // TLS parameters are taken out first: pg-connection-string would read the files and map the
  // modes its own way; tls.ts maps them as libpq does.
  const q = text.indexOf("?");
  const query = new URLSearchParams(q < 0 ? "" : text.slice(q + 1));
  const tls: Fields = {};
  for (const key of TLS_KEYS) {
    const value = query.get(key);
    if (value !== null) tls[key] = value;
    query.delete(key);
  }
  const rest = q < 0 ? text : `${text.slice(0, q)}${query.size > 0 ? `?${query.toString()}` : ""}`;
  let config: ReturnType<typeof parse>;
  try {
    config = parse(rest);
  } catch {
    throw new HoldfastError("USAGE", `cannot parse PostgreSQL URL "${redactUrl(text)}"`, { hint: "write postgres://user@host:5432/dbname or postgres://user@/dbname?host=/var/run/postgresql" });
  }
  const extra = config as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
  return {
    host: str(config.host),
    port: str(config.port),
    user: str(config.user),
    password: str(config.password),
    dbname: str(config.database) ?? str(extra.dbname),
    ...tls,
  };
}

/** libpq's keyword/value form: `key = value` pairs, values single-quoted when they hold spaces (\\ and \' escapes). */
function parseKeywords(text: string): Fields {
  const known = new Set(["host", "port", "user", "password", "dbname", ...TLS_KEYS]);
  const fields: Record<string, string> = {};
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|((?:[^\s'\\]|\\.)*))/y;
  let at = 0;
  while (at < text.length && text.slice(at).trim() !== "") {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) throw new HoldfastError("USAGE", `cannot parse the PostgreSQL connection string "${redactUrl(text)}"`, { hint: "write postgres://user@host/dbname or host=/var/run/postgresql dbname=app user=app" });
    const value = (m[2] ?? m[3] ?? "").replace(/\\(.)/g, "$1");
    if (known.has(m[1]!)) fields[m[1]!] = value;
    at = re.lastIndex;
  }
  if (Object.keys(fields).length === 0) throw new HoldfastError("USAGE", `not a PostgreSQL connection string: "${redactUrl(text)}"`);
  return fields;
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? "postgres";
  }
}

function redactUrl(text: string): string {
  return text.replace(/(\/\/[^:/@\s]*:)[^@\s]+@/, "$1***@").replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, "$1***");
}

/** The URL recorded in manifests and messages: never a password. */
export function describePg(ref: PgRef): string {
  const user = ref.user ? `${encodeURIComponent(ref.user)}@` : "";
  const socket = ref.host?.startsWith("/");
  const hostPart = socket ? "localhost" : ref.host?.includes(":") ? `[${ref.host}]` : (ref.host ?? "");
  const params = new URLSearchParams();
  if (socket) params.set("host", ref.host!);
  if (ref.port !== undefined && socket) params.set("port", String(ref.port));
  for (const key of TLS_KEYS) if (ref[key]) params.set(key, ref[key]!);
  const port = ref.port !== undefined && !socket ? `:${ref.port}` : "";
  const query = params.toString() ? `?${params.toString().replace(/%2F/g, "/")}` : "";
  return `postgres://${user}${hostPart}${port}/${encodeURIComponent(ref.database)}${query}`;
}

export function withDatabase(ref: PgRef, database: string): PgRef {
  return { ...ref, database, scratch: undefined };
}

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
