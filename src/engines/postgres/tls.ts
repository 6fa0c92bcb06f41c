import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { ConnectionOptions } from "node:tls";
import { HoldfastError } from "../../errors.js";

export const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The TLS parameters of a connection string, as libpq names them (file paths, never secrets). */
export interface TlsParams {
  host?: string;
  sslmode?: string;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
}

/**
 * How the pg client connects, following libpq (https://www.postgresql.org/docs/current/libpq-ssl.html):
 *  - disable: no TLS. Unix sockets never use TLS (libpq does not either).
 *  - allow, prefer (libpq's default): TLS without verification when the server offers it, else
 *    plain (`fallback`). allow tries TLS first here, where libpq tries plain first.
 *  - require: TLS without verification — but when a root certificate file exists (sslrootcert,
 *    else ~/.postgresql/root.crt) the chain is verified, as libpq does ("same as verify-ca").
 *  - verify-ca: the chain must lead to the root certificate; the host name is not checked.
 *  - verify-full: chain and host name (a name or IP in the certificate's subjectAltName/CN).
 * sslrootcert=system uses the system's trusted CAs. sslcert/sslkey (default
 * ~/.postgresql/postgresql.crt/.key when present) give a client certificate.
 */
export interface TlsPlan {
  mode: SslMode;
  ssl: false | ConnectionOptions;
  /** Retry without TLS when the server does not support it (allow/prefer). */
  fallback: boolean;
  /** The root certificate file the chain is verified against, for messages. */
  rootCert?: string;
}

export function sslMode(params: TlsParams): SslMode {
  const text = params.sslmode ?? process.env.PGSSLMODE ?? "prefer";
  if (!(SSL_MODES as readonly string[]).includes(text)) {
    throw new HoldfastError("USAGE", `sslmode must be one of ${SSL_MODES.join(", ")}, got "${text}"`);
  }
  return text as SslMode;
}

/** The file libpq would use for a TLS parameter: the URL's, else PG* variable, else ~/.postgresql/<name>. */
export function tlsFile(params: TlsParams, key: "sslrootcert" | "sslcert" | "sslkey"): { path: string; explicit: boolean } {
  const env = { sslrootcert: "PGSSLROOTCERT", sslcert: "PGSSLCERT", sslkey: "PGSSLKEY" }[key];
  const given = params[key] ?? process.env[env];
  if (given) return { path: given, explicit: true };
  const name = { sslrootcert: "root.crt", sslcert: "postgresql.crt", sslkey: "postgresql.key" }[key];
  return { path: join(homedir(), ".postgresql", name), explicit: false };
}

function read(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new HoldfastError("CONNECTION_FAILED", `cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: "check the sslrootcert/sslcert/sslkey parameters (or PGSSLROOTCERT/PGSSLCERT/PGSSLKEY) and the file's permissions",
      cause: err,
    });
  }
}

export function tlsPlan(params: TlsParams): TlsPlan {
  const mode = sslMode(params);
  if (mode === "disable" || params.host?.startsWith("/")) return { mode, ssl: false, fallback: false };
  const ssl: ConnectionOptions = {};
  const cert = tlsFile(params, "sslcert");
  if (cert.explicit || existsSync(cert.path)) {
    ssl.cert = read(cert.path, "client certificate (sslcert)");
    ssl.key = read(tlsFile(params, "sslkey").path, "client key (sslkey)");
  }
  if (mode === "allow" || mode === "prefer") return { mode, ssl: { ...ssl, rejectUnauthorized: false }, fallback: true };
  const root = tlsFile(params, "sslrootcert");
  const system = root.path === "system";
  const haveRoot = system || existsSync(root.path);
  if (mode === "require" && !haveRoot) return { mode, ssl: { ...ssl, rejectUnauthorized: false }, fallback: false };
  if (!haveRoot) {
    throw new HoldfastError("CONNECTION_FAILED", `sslmode=${mode} needs a root certificate to verify the server: ${root.path} does not exist`, {
      hint: "give the CA certificate with sslrootcert=/path/to/ca.crt (or PGSSLROOTCERT), or sslrootcert=system for the system's CAs",
    });
  }
  if (!system) ssl.ca = read(root.path, "root certificate (sslrootcert)");
  ssl.rejectUnauthorized = true;
  // verify-ca (and require with a root certificate): the chain, not the name.
  if (mode !== "verify-full") ssl.checkServerIdentity = () => undefined;
  return { mode, ssl, fallback: false, rootCert: system ? "the system's CAs" : root.path };
}

const CHAIN_ERRORS = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "INVALID_CA",
]);

/** A TLS failure as one line saying what was not trusted, or undefined when `err` is not one. */
export function tlsFailure(err: unknown, plan: TlsPlan | undefined, where: string): HoldfastError | undefined {
  const e = err as { code?: string; message?: string };
  const message = e?.message ?? "";
  if (/server does not support SSL/i.test(message)) {
    return new HoldfastError("CONNECTION_FAILED", `the server of ${where} does not accept TLS connections (sslmode=${plan?.mode ?? "require"})`, {
      hint: "turn ssl on in the server's postgresql.conf, or use sslmode=prefer/disable",
      cause: err,
    });
  }
  if (e?.code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return new HoldfastError("CONNECTION_FAILED", `TLS: the certificate of the server of ${where} is not for that host name (sslmode=verify-full): ${message}`, {
      hint: "connect with the host name the certificate was issued for, or use sslmode=verify-ca",
      cause: err,
    });
  }
  if (e?.code && CHAIN_ERRORS.has(e.code)) {
    return new HoldfastError("CONNECTION_FAILED", `TLS: cannot verify the certificate of the server of ${where} against ${plan?.rootCert ?? "the root certificate"} (sslmode=${plan?.mode}): ${e.code}`, {
      hint: "give the CA that signed the server's certificate with sslrootcert=…",
      cause: err,
    });
  }
  return undefined;
}
