import { spawn } from "node:child_process";
import type { Logger } from "pino";
import { redact } from "../errors.js";

/** Something wrong with one database, keyed so the same condition is recognised next time. */
export interface AlertCondition {
  key: string;
  database: string;
  /** backup_failed, backup_stale, verify_failed, deep_verify_failed, prune_failed, copy_failed, drill_failed, export_failed */
  alert: string;
  message: string;
}

export interface AlertPayload {
  status: "firing" | "resolved";
  alert: string;
  database: string;
  message: string;
  /** When the condition was first seen. */
  since: string;
  at: string;
  host: string;
  repeat: boolean;
}

export interface AlertSettings {
  webhooks: string[];
  command?: string[];
  repeatAfterMs: number;
}

interface Active {
  condition: AlertCondition;
  since: Date;
  lastSentAt: Date;
}

const DELIVERY_TIMEOUT_MS = 10_000;

/**
 * Turns the set of current conditions into notifications: a new condition fires at once, one that
 * persists fires again only after repeatAfter, one that disappears sends "resolved".
 */
export class Alerter {
  private readonly active = new Map<string, Active>();

  constructor(private settings: AlertSettings, private readonly log: Logger, private readonly host: string) {}

  configure(settings: AlertSettings): void {
    this.settings = settings;
  }

  /** Compare with the previous evaluation and deliver what changed. Resolves when delivered. */
  async evaluate(current: AlertCondition[], now = new Date()): Promise<void> {
    const sends: Promise<void>[] = [];
    const seen = new Set<string>();
    for (const condition of current) {
      seen.add(condition.key);
      const known = this.active.get(condition.key);
      if (!known) {
        this.active.set(condition.key, { condition, since: now, lastSentAt: now });
        sends.push(this.deliver(this.payload("firing", condition, now, now, false)));
      } else if (now.getTime() - known.lastSentAt.getTime() >= this.settings.repeatAfterMs) {
        known.lastSentAt = now;
        known.condition = condition;
        sends.push(this.deliver(this.payload("firing", condition, known.since, now, true)));
      }
    }
    for (const [key, known] of this.active) {
      if (seen.has(key)) continue;
      this.active.delete(key);
      sends.push(this.deliver(this.payload("resolved", known.condition, known.since, now, false)));
    }
    await Promise.all(sends);
  }

  /** Forget conditions of databases no longer configured (after a reload), without a message. */
  retain(databases: ReadonlySet<string>): void {
    for (const [key, a] of this.active) if (!databases.has(a.condition.database)) this.active.delete(key);
  }

  private payload(status: AlertPayload["status"], c: AlertCondition, since: Date, at: Date, repeat: boolean): AlertPayload {
    return { status, alert: c.alert, database: c.database, message: redact(c.message), since: since.toISOString(), at: at.toISOString(), host: this.host, repeat };
  }

  private async deliver(payload: AlertPayload): Promise<void> {
    const body = JSON.stringify(payload);
    this.log.warn({ alert: payload.alert, database: payload.database, status: payload.status }, `alert ${payload.status}: ${payload.message}`);
    await Promise.all([
      ...this.settings.webhooks.map((url) => this.post(url, body)),
      ...(this.settings.command ? [this.run(this.settings.command, body)] : []),
    ]);
  }

  private async post(url: string, body: string): Promise<void> {
    try {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS) });
      if (!res.ok) this.log.error({ webhook: redact(url), status: res.status }, "alert webhook refused the alert");
    } catch (err) {
      this.log.error({ webhook: redact(url), error: (err as Error).message }, "alert webhook unreachable");
    }
  }

  /** The payload goes to the command's stdin; argv is fixed by the config (no shell). */
  private run(command: string[], body: string): Promise<void> {
    return new Promise((resolve) => {
      const child = spawn(command[0]!, command.slice(1), { stdio: ["pipe", "ignore", "pipe"], timeout: DELIVERY_TIMEOUT_MS });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      child.stdin.on("error", () => undefined);
      child.on("error", (err) => {
        this.log.error({ command: command[0], error: err.message }, "alert command could not start");
        resolve();
      });
      child.on("close", (code) => {
        if (code !== 0) this.log.error({ command: command[0], code, stderr: redact(stderr.trim()) }, "alert command failed");
        resolve();
      });
      child.stdin.end(body);
    });
  }
}
