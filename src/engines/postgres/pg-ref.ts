import { userInfo } from "node:os";
import { parse } from "pg-connection-string";
import { HoldfastError, registerSecret } from "../../errors.js";
import { sslMode } from "./tls.js";

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

export const TLS_KEYS = ["sslmode", "sslrootcert", "sslcert", "sslkey"] as const;

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

export function osUser(): string {
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
