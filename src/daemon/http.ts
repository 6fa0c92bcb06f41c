import Fastify, { type FastifyInstance } from "fastify";
import { accessHook, type HttpAccess } from "./dashboard/access.js";

export interface HealthVerdict {
  ok: boolean;
  databases: { name: string; ok: boolean; reasons: string[]; newestBackup?: string; ageSeconds?: number }[];
}

/** starting: listening, repository and catalog not read yet; ready: serving; stopping: waiting for jobs. */
export type DaemonPhase = "starting" | "ready" | "stopping";

export interface HttpHandlers {
  phase(): DaemonPhase;
  metrics(): Promise<{ contentType: string; body: string }>;
  backupHealth(database?: string): HealthVerdict | undefined;
}

/**
 * /health (liveness: 200 while the process lives, with its phase), /ready (200 once the
 * repository has been read, 503 while starting or stopping), /metrics (Prometheus text; 503 while
 * starting, so a scrape fails rather than report no data as fine) and /health/backup (200, or 503
 * with the reasons; 503 while starting). With a token every path but /health and /ready needs
 * `Authorization: Bearer <token>` (or basic auth, when configured; see dashboard/access.ts); every
 * method but GET/HEAD is 405. `extra` adds routes (the dashboard). The server listens before the
 * daemon loads anything.
 */
export async function startHttp(host: string, port: number, access: HttpAccess, handlers: HttpHandlers, extra?: (server: FastifyInstance) => void): Promise<{ server: FastifyInstance; address: string }> {
  const server = Fastify({ logger: false });
  server.addHook("onRequest", accessHook(access));
  extra?.(server);
  server.get("/metrics", async (_req, reply) => {
    if (handlers.phase() === "starting") return reply.code(503).header("content-type", "text/plain; charset=utf-8").send("# holdfast daemon starting: no metrics until the repository has been read\n");
    const { contentType, body } = await handlers.metrics();
    return reply.header("content-type", contentType).send(body);
  });
  server.get("/health", async () => ({ ok: true, status: handlers.phase() }));
  server.get("/ready", async (_req, reply) => {
    const status = handlers.phase();
    return reply.code(status === "ready" ? 200 : 503).send({ ready: status === "ready", status });
  });
  server.get<{ Querystring: { database?: string } }>("/health/backup", async (req, reply) => {
    if (handlers.phase() === "starting") return reply.code(503).send({ ok: false, status: "starting", databases: [] });
    const verdict = handlers.backupHealth(req.query.database);
    if (!verdict) return reply.code(404).send({ error: `unknown database "${req.query.database}"` });
    return reply.code(verdict.ok ? 200 : 503).send(verdict);
  });
  const address = await server.listen({ host, port });
  return { server, address };
}
