import type { FastifyInstance, FastifyReply } from "fastify";
import type { DatabaseStatus } from "../../commands/status.js";
import { parseDuration } from "../../config/duration.js";
import { redact } from "../../errors.js";
import type { DaemonConfig } from "../config.js";
import type { DaemonPhase } from "../http.js";
import { CLIENT_SCRIPT } from "./client.js";
import { databaseRow, type JobRun, type Overview } from "./overview.js";
import { pageHtml, PAGE_STYLE, type PageKind } from "./page.js";
import { DashboardReader } from "./reader.js";

/** What the dashboard reads of the running daemon. */
export interface DashboardSource {
  phase(): DaemonPhase;
  config(): DaemonConfig;
  status(database: string): DatabaseStatus | undefined;
  /** The latest run of each job of a database. */
  jobs(database: string): JobRun[];
  /** When the newest WAL file reached the archive (ms since the epoch), if any. */
  walNewestMs(): number | undefined;
}

/** Pages may load only the daemon's own script and style, and frame only its own drill reports. */
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/** A stored drill report: its own inline CSS, no script, shown only inside the daemon's drill page. */
const REPORT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'";

/** JSON through the one redaction point: no registered secret leaves the daemon. */
function sendJson(reply: FastifyReply, value: unknown, code = 200): FastifyReply {
  return reply.code(code).header("content-type", "application/json; charset=utf-8").header("cache-control", "no-store").send(redact(JSON.stringify(value)));
}

function targetsOf(config: DaemonConfig, name: string): { rtoMs?: number; rpoMs?: number } {
  const t = config.settings.databases[name]?.drill?.targets;
  return { rtoMs: t?.rto ? parseDuration(t.rto) : undefined, rpoMs: t?.rpo ? parseDuration(t.rpo) : undefined };
}

/**
 * The read-only web dashboard: pages under /dashboard (one row per database, a page per backup
 * and per drill), the JSON they poll under /api, and the script and style they need, all served
 * here (no CDN). Access control and the GET-only rule are the server's (see access.ts).
 */
export function registerDashboard(server: FastifyInstance, source: DashboardSource): void {
  const reader = new DashboardReader(() => source.config().settings);
  const page = (kind: PageKind, id?: string) => async (_req: unknown, reply: FastifyReply) =>
    reply.header("content-type", "text/html; charset=utf-8").header("content-security-policy", PAGE_CSP).header("cache-control", "no-store").send(pageHtml(kind, id));
  const starting = (reply: FastifyReply) => sendJson(reply, { error: "the daemon is starting: the repository has not been read yet", status: "starting" }, 503);

  server.get("/", async (_req, reply) => reply.redirect("/dashboard"));
  server.get("/dashboard", page("overview"));
  server.get<{ Params: { id: string } }>("/dashboard/backups/:id", async (req, reply) => page("backup", req.params.id)(req, reply));
  server.get<{ Params: { id: string } }>("/dashboard/drills/:id", async (req, reply) => page("drill", req.params.id)(req, reply));
  server.get("/dashboard/app.js", async (_req, reply) => reply.header("content-type", "text/javascript; charset=utf-8").send(CLIENT_SCRIPT));
  server.get("/dashboard/style.css", async (_req, reply) => reply.header("content-type", "text/css; charset=utf-8").send(PAGE_STYLE));
  server.get<{ Params: { id: string } }>("/dashboard/drills/:id/report", async (req, reply) => {
    const html = await reader.drillPage(req.params.id);
    if (html === undefined) return sendJson(reply, { error: `no drill report ${req.params.id}` }, 404);
    return reply.header("content-type", "text/html; charset=utf-8").header("content-security-policy", REPORT_CSP).header("x-content-type-options", "nosniff").send(redact(html));
  });

  server.get("/api/overview", async (_req, reply) => {
    if (source.phase() === "starting") return starting(reply);
    const config = source.config();
    const catalog = await reader.catalog();
    const now = new Date();
    const databases = await Promise.all(
      config.databases.map(async (db) => {
        const status = source.status(db.name);
        return databaseRow({ db, targets: targetsOf(config, db.name), status, jobs: source.jobs(db.name), catalog, copies: await reader.copies(status?.newest?.id), walNewestMs: source.walNewestMs() }, now);
      }),
    );
    const overview: Overview = { now: now.toISOString(), phase: source.phase(), repository: reader.location, databases };
    return sendJson(reply, overview);
  });
  server.get<{ Params: { id: string } }>("/api/backups/:id", async (req, reply) => {
    if (source.phase() === "starting") return starting(reply);
    const manifest = await reader.manifest(req.params.id);
    if (!manifest) return sendJson(reply, { error: `no backup ${req.params.id} in the repository` }, 404);
    const database = source.config().databases.find((d) => d.sourceUri === manifest.source.uri)?.name;
    return sendJson(reply, { database, manifest });
  });
  server.get<{ Params: { id: string } }>("/api/drills/:id", async (req, reply) => {
    if (source.phase() === "starting") return starting(reply);
    const drill = await reader.drill(req.params.id);
    if (!drill) return sendJson(reply, { error: `no drill ${req.params.id} in the repository` }, 404);
    return sendJson(reply, drill);
  });
}
