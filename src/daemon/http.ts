import { timingSafeEqual } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";

export interface HealthVerdict {
  ok: boolean;
  databases: { name: string; ok: boolean; reasons: string[]; newestBackup?: string; ageSeconds?: number }[];
}

export interface HttpHandlers {
  metrics(): Promise<{ contentType: string; body: string }>;
  backupHealth(database?: string): HealthVerdict | undefined;
}

/**
 * /metrics (Prometheus text), /health (the process answers) and /health/backup (200, or 503 with
 * the reasons). With a token every path but /health needs `Authorization: Bearer <token>`.
 */
export async function startHttp(host: string, port: number, token: string | undefined, handlers: HttpHandlers): Promise<{ server: FastifyInstance; address: string }> {
  const server = Fastify({ logger: false });
  if (token) {
    const expected = Buffer.from(`Bearer ${token}`);
    server.addHook("onRequest", async (req, reply) => {
      if (req.url === "/health") return; // liveness says nothing about the data: probes need no secret
      const given = Buffer.from(req.headers.authorization ?? "");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return reply.code(401).header("www-authenticate", "Bearer").send({ error: "missing or wrong bearer token" });
      }
    });
  }
  server.get("/metrics", async (_req, reply) => {
    const { contentType, body } = await handlers.metrics();
    return reply.header("content-type", contentType).send(body);
  });
  server.get("/health", async () => ({ ok: true }));
  server.get<{ Querystring: { database?: string } }>("/health/backup", async (req, reply) => {
    const verdict = handlers.backupHealth(req.query.database);
    if (!verdict) return reply.code(404).send({ error: `unknown database "${req.query.database}"` });
    return reply.code(verdict.ok ? 200 : 503).send(verdict);
  });
  const address = await server.listen({ host, port });
  return { server, address };
}
