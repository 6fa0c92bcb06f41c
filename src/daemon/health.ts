import type { DatabaseStatus, JobKind } from "../commands/status.js";
import type { AlertCondition } from "./alerts.js";
import type { DatabaseJobs } from "./config.js";
import type { HealthVerdict } from "./http.js";
import type { JobOutcome } from "./jobs.js";
import { jobKey } from "./state.js";

/** What the daemon knows now: its databases, their repository status and the latest job outcomes. */
export interface HealthInputs {
  databases: readonly DatabaseJobs[];
  statuses: ReadonlyMap<string, DatabaseStatus>;
  outcomes: ReadonlyMap<string, JobOutcome>;
}

/** Why a database's newest backup is stale (none at all counts), or undefined when it is fresh or not yet read. */
export function staleness(db: DatabaseJobs, status: DatabaseStatus | undefined, now: Date): string | undefined {
  if (!status) return undefined;
  if (!status.newest) return "no backup yet";
  const age = now.getTime() - Date.parse(status.newest.finishedAt);
  return age > db.staleAfterMs ? `newest backup ${status.newest.id} is ${Math.round(age / 1000)} s old (stale after ${Math.round(db.staleAfterMs / 1000)} s)` : undefined;
}

/** The alert conditions that hold now: stale backups and failed jobs. */
export function alertConditions(h: HealthInputs, now: Date): AlertCondition[] {
  const out: AlertCondition[] = [];
  for (const db of h.databases) {
    const stale = staleness(db, h.statuses.get(db.name), now);
    if (stale) out.push({ key: `${db.name}/backup_stale`, database: db.name, alert: "backup_stale", message: `${db.name}: ${stale}` });
    for (const kind of Object.keys(db.schedule) as JobKind[]) {
      const o = h.outcomes.get(jobKey(db.name, kind));
      if (o?.result === "failure") out.push({ key: `${db.name}/${kind}_failed`, database: db.name, alert: `${kind}_failed`, message: `${db.name}: ${kind} failed: ${o.error?.message}` });
    }
  }
  return out;
}

/** GET /health/backup: every selected database's backup is fresh and its last backup job did not fail. */
export function backupHealth(h: HealthInputs, database: string | undefined, now: Date): HealthVerdict | undefined {
  const selected = h.databases.filter((d) => database === undefined || d.name === database);
  if (selected.length === 0) return undefined;
  const databases = selected.map((db) => {
    const reasons: string[] = [];
    const status = h.statuses.get(db.name);
    const stale = staleness(db, status, now);
    if (stale) reasons.push(stale);
    const last = h.outcomes.get(jobKey(db.name, "backup"));
    if (last?.result === "failure") reasons.push(`last backup failed at ${last.startedAt.toISOString()}: ${last.error?.message}`);
    const newest = status?.newest;
    return { name: db.name, ok: reasons.length === 0, reasons, newestBackup: newest?.id, ageSeconds: newest ? Math.round((now.getTime() - Date.parse(newest.finishedAt)) / 1000) : undefined };
  });
  return { ok: databases.every((d) => d.ok), databases };
}
