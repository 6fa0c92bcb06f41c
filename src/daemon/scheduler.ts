import { Cron } from "croner";
import type { JobKind } from "../commands/status.js";
import type { DatabaseJobs } from "./config.js";

/**
 * Jobs of one database run one at a time, in the order they became due. A job already waiting
 * is not queued twice (a slow backup does not pile up ticks behind it).
 */
export class DatabaseQueue {
  private tail: Promise<void> = Promise.resolve();
  private readonly waiting = new Set<JobKind>();
  running: JobKind | undefined;

  /** false when the same kind is already waiting. */
  enqueue(kind: JobKind, run: () => Promise<void>): boolean {
    if (this.waiting.has(kind)) return false;
    this.waiting.add(kind);
    this.tail = this.tail.then(async () => {
      this.waiting.delete(kind);
      this.running = kind;
      try {
        await run();
      } finally {
        this.running = undefined;
      }
    });
    return true;
  }

  /** Resolves once everything queued so far has finished. */
  idle(): Promise<void> {
    return this.tail;
  }
}

export type DueHandler = (database: string, kind: JobKind) => void;

/** Cron timers (croner: 5 or 6 fields, time-zone aware) for every scheduled job of every database. */
export class Scheduler {
  private timers = new Map<string, Cron>();

  constructor(private readonly onDue: DueHandler) {}

  start(databases: DatabaseJobs[]): void {
    this.stop();
    for (const db of databases) {
      for (const [kind, pattern] of Object.entries(db.schedule) as [JobKind, string][]) {
        const timer = new Cron(pattern, { timezone: db.timeZone }, () => this.onDue(db.name, kind));
        this.timers.set(`${db.name}/${kind}`, timer);
      }
    }
  }

  stop(): void {
    for (const timer of this.timers.values()) timer.stop();
    this.timers.clear();
  }

  nextRun(database: string, kind: JobKind): Date | undefined {
    return this.timers.get(`${database}/${kind}`)?.nextRun() ?? undefined;
  }

  /** The time between the schedule's next two firings (its interval, for a regular pattern). */
  intervalMs(database: string, kind: JobKind): number | undefined {
    const [a, b] = this.timers.get(`${database}/${kind}`)?.nextRuns(2) ?? [];
    return a && b ? b.getTime() - a.getTime() : undefined;
  }

  /** The most recent time the schedule fired (or should have), before now. */
  previousDue(database: string, kind: JobKind): Date | undefined {
    return this.timers.get(`${database}/${kind}`)?.previousRuns(1)[0];
  }
}
