import { timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";

/** Who may read the HTTP endpoint: a bearer token (scripts, Prometheus), basic auth (browsers), or both. */
export interface HttpAccess {
  token?: string;
  basic?: { user: string; password: string };
}

/** Probes carry no secret: they learn only that the process lives and whether it serves. */
const OPEN_PATHS = new Set(["/health", "/ready"]);

const READ_METHODS = new Set(["GET", "HEAD"]);

function same(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** An address only this host can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host) || /^::ffff:127\./.test(host);
}

/** What the daemon says at start when anyone on the network could read the endpoint. */
export function exposureWarning(host: string, access: HttpAccess): string | undefined {
  if (isLoopback(host) || access.token || access.basic) return undefined;
  return `the HTTP endpoint (dashboard, metrics, backup health) listens on ${host}, beyond loopback, without authentication: set http.basic_auth_file and/or http.token_file, or listen on 127.0.0.1`;
}

/**
 * The endpoint is read-only: any method but GET/HEAD is 405, for every path. With a token or basic
 * auth configured, every path but /health and /ready needs one of them (401 otherwise, with the
 * challenge a browser understands when basic auth is configured).
 */
export function accessHook(access: HttpAccess): (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  const expected = [access.token ? `Bearer ${access.token}` : undefined, access.basic ? `Basic ${Buffer.from(`${access.basic.user}:${access.basic.password}`).toString("base64")}` : undefined].filter((x): x is string => x !== undefined);
  return async (req, reply) => {
    if (!READ_METHODS.has(req.method)) return reply.code(405).header("allow", "GET, HEAD").send({ error: `${req.method} not allowed: the endpoint is read-only` });
    if (expected.length === 0 || OPEN_PATHS.has(req.url)) return;
    const given = req.headers.authorization ?? "";
    // Compare against every accepted form so the time taken does not tell which one was close.
    const ok = expected.map((e) => same(given, e)).includes(true);
    if (!ok) {
      return reply
        .code(401)
        .header("www-authenticate", access.basic ? 'Basic realm="holdfast", charset="UTF-8"' : "Bearer")
        .send({ error: access.basic ? "missing or wrong credentials" : "missing or wrong bearer token" });
    }
  };
}
