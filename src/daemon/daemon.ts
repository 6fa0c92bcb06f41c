import type { AgeKeys } from "../pipeline/age.js";
import { statfs } from "node:fs/promises";
import { hostname } from "node:os";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { CommandContext, ProgressHandle } from "../commands/context.js";
import { openRepository } from "../commands/open-repository.js";
import { databaseStatuses, type DatabaseStatus, type JobKind } from "../commands/status.js";
import { HoldfastError } from "../errors.js";
import { WalArchive } from "../repository/wal-archive.js";
import { Alerter } from "./alerts.js";
import { alertConditions, backupHealth, type HealthInputs } from "./health.js";
import { loadDaemonConfig, type DaemonConfig } from "./config.js";
import { startHttp, type DaemonPhase, type HealthVerdict } from "./http.js";
import { exposureWarning } from "./dashboard/access.js";
import type { JobRun } from "./dashboard/overview.js";
import { registerDashboard } from "./dashboard/routes.js";
import { runJob, type JobOutcome } from "./jobs.js";
import { DaemonMetrics } from "./metrics.js";
import { DatabaseQueue, Scheduler } from "./scheduler.js";
import { StateFile, copyKey, jobKey, type JobRecord } from "./state.js";
import { WalStreams } from "./wal-streams.js";

const NO_PROGRESS: ProgressHandle = { update: () => undefined, stop: () => undefined };
const REFRESH_EVERY_MS = 60_000;
const EVALUATE_EVERY_MS = 1_000;

/**
 * The long-running door onto commands/: cron schedules per database, one job at a time per
 * database, metrics and health over HTTP, alerts on failure and staleness, reload on demand.
 * Signals are wired by cli/ (reload(), stop(), abortRunning()).
 */
export class Daemon {
  private readonly queues = new Map<string, DatabaseQueue>();
  private readonly scheduler = new Scheduler((database, kind) => this.trigger(database, kind, "schedule"));
  private readonly metrics = new DaemonMetrics();
  private readonly streams: WalStreams;
  private readonly statuses = new Map<string, DatabaseStatus>();
  private readonly outcomes = new Map<string, JobOutcome>();
  private readonly abort = new AbortController();
  private readonly alerter: Alerter;
  private readonly state: StateFile;
  private http?: FastifyInstance;
  private timers: NodeJS.Timeout[] = [];
  /** The repository keys opened at start (undefined for a plaintext repository or none configured). */
  private keys?: AgeKeys;
  private evaluating: Promise<void> = Promise.resolve();
  private stopping = false;
  private phase: DaemonPhase = "starting";
  private walNewestMs?: number;
  address = "";

  private constructor(private config: DaemonConfig, private readonly log: Logger) {
    this.alerter = new Alerter(config.alerts, log, hostname());
    this.state = new StateFile(config.stateDir);
    this.streams = new WalStreams(this.metrics.registry, config, log);
  }

  /**
   * Listen first (so /health answers "starting" at once), then unlock the repository and read
   * its catalog; resolves when the daemon is ready. A failure while loading closes the endpoint.
   */
  static async start(configPath: string, log: Logger, env: NodeJS.ProcessEnv = process.env, onListening?: (address: string) => void): Promise<Daemon> {
    const daemon = new Daemon(await loadDaemonConfig(configPath, env), log);
    await daemon.listen();
    onListening?.(daemon.address);
    try {
      await daemon.begin();
    } catch (err) {
      await daemon.http?.close();
      throw err;
    }
    return daemon;
  }

  private async listen(): Promise<void> {
    const { host, port, token, basic, dashboard } = this.config.http;
    const exposed = exposureWarning(host, { token, basic });
    if (exposed) this.log.warn(exposed);
    const phase = () => this.phase;
    const handlers = { phase, metrics: async () => ({ contentType: this.metrics.contentType, body: await this.metrics.text() }), backupHealth: (database?: string) => this.backupHealth(database) };
    const board = { phase, config: () => this.config, status: (name: string) => this.statuses.get(name), jobs: (name: string) => this.lastRuns(name), walNewestMs: () => this.walNewestMs };
    const { server, address } = await startHttp(host, port, { token, basic }, handlers, dashboard ? (s) => registerDashboard(s, board) : undefined).catch((err: unknown) => {
      throw new HoldfastError("CONFIG_INVALID", `${this.config.path}: http.listen: cannot listen on ${host}:${port} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
        hint: "another process uses the port, or the address is not on this host",
        cause: err,
      });
    });
    this.http = server;
    this.address = address;
    this.log.info({ address }, "listening; loading the repository");
  }

  private async begin(): Promise<void> {
    // Fail at start, not at 2 a.m.: the repository must exist and the key must open it.
    this.keys = (await openRepository(this.config.settings, "if-possible")).keys;
    await this.state.load();
    await this.refresh();
    this.apply();
    this.streams.start();
    this.timers.push(setInterval(() => void this.refresh().then(() => this.evaluate()), REFRESH_EVERY_MS));
    this.timers.push(setInterval(() => void this.evaluate(), EVALUATE_EVERY_MS));
    this.phase = "ready";
    this.log.info({ address: this.address, databases: this.config.databases.map((d) => d.name), state: this.state.path }, "daemon started");
    if (this.config.runMissedOnStart) this.runMissed();
    await this.evaluate();
  }

  /** Schedules and per-database metrics for the current config. */
  private apply(): void {
    for (const db of this.config.databases) {
      if (!this.queues.has(db.name)) this.queues.set(db.name, new DatabaseQueue());
      this.metrics.declare(db.name, db.schedule.export !== undefined);
    }
    this.scheduler.start(this.config.databases);
    const copyTo = this.config.settings.copyTo ?? [];
    this.metrics.declareSchedules(
      this.config.databases.map((db) => {
        const intervals = (["verify", "deep_verify"] as const).map((k) => this.scheduler.intervalMs(db.name, k)).filter((ms): ms is number => ms !== undefined);
        return { name: db.name, verifyIntervalMs: intervals.length ? Math.min(...intervals) : undefined, copyTargets: db.schedule.copy ? copyTo : [] };
      }),
    );
    // Copies leave no record in this repository: the state file remembers how the last ones went.
    for (const db of this.config.databases) {
      for (const target of db.schedule.copy ? copyTo : []) {
        const r = this.state.get(copyKey(db.name, target));
        if (r) this.metrics.observeCopy(db.name, target, r.ok, r.lastSuccessAt ? Date.parse(r.lastSuccessAt) : undefined);
      }
    }
  }

  /** A schedule that came due while the daemon was down runs once now. */
  private runMissed(): void {
    for (const db of this.config.databases) {
      for (const kind of Object.keys(db.schedule) as JobKind[]) {
        const due = this.scheduler.previousDue(db.name, kind);
        const record = this.state.get(jobKey(db.name, kind));
        let lastRun = record ? Date.parse(record.lastRunAt) : undefined;
        if (kind === "backup" && lastRun === undefined) {
          const newest = this.statuses.get(db.name)?.newest;
          lastRun = newest ? Date.parse(newest.startedAt) : 0;
        }
        if (kind === "drill" && lastRun === undefined) {
          // Drills run from the CLI count: the repository holds their records.
          const last = this.statuses.get(db.name)?.lastDrill;
          lastRun = last ? Date.parse(last.finishedAt) : 0;
        }
        if (kind === "export" && lastRun === undefined) {
          const last = this.statuses.get(db.name)?.newestExport;
          lastRun = last ? Date.parse(last.finishedAt) : 0;
        }
        if (due && lastRun !== undefined && lastRun < due.getTime()) this.trigger(db.name, kind, "missed while down");
      }
    }
  }

  private trigger(database: string, kind: JobKind, why: string): void {
    if (this.stopping) return;
    const queue = this.queues.get(database);
    const queued = queue?.enqueue(kind, () => this.execute(database, kind));
    if (queued === false) this.log.warn({ database, job: kind }, "job still waiting from its previous tick; skipped");
    else this.log.debug({ database, job: kind, why }, "job queued");
  }

  private async execute(database: string, kind: JobKind): Promise<void> {
    const db = this.config.databases.find((d) => d.name === database);
    if (!db || !db.schedule[kind] || this.stopping) return;
    const log = this.log.child({ database, job: kind });
    const ctx: CommandContext = { log, progress: () => NO_PROGRESS, signal: this.abort.signal };
    log.info("job started");
    const outcome = await runJob(kind, db, this.config.settings, ctx);
    this.outcomes.set(jobKey(database, kind), outcome);
    this.metrics.observeJob(outcome);
    if (outcome.result === "failure") log.error({ code: outcome.error?.code, durationMs: outcome.durationMs }, `job failed: ${outcome.error?.message}`);
    else log.info({ result: outcome.result, durationMs: outcome.durationMs, note: outcome.note, id: outcome.manifest?.id ?? outcome.exported?.id }, "job finished");
    const at = outcome.startedAt.toISOString();
    const records: [string, JobRecord][] = [[jobKey(database, kind), { lastRunAt: at, ok: outcome.result !== "failure", error: outcome.error?.message }]];
    for (const c of outcome.copies ?? []) {
      const key = copyKey(database, c.target);
      records.push([key, { lastRunAt: at, ok: c.ok, error: c.error?.message, lastSuccessAt: c.ok ? at : this.state.get(key)?.lastSuccessAt }]);
    }
    for (const [key, record] of records) {
      await this.state.record(key, record).catch((err: unknown) => log.error({ error: (err as Error).message, state: this.state.path }, "could not write the daemon state file"));
    }
    await this.refresh();
    await this.evaluate();
  }

  /** Re-read the catalog: newest backups, sizes, verifications; volume space and WAL archive age. */
  private async refresh(): Promise<void> {
    const { settings } = this.config;
    try {
      const { repo } = await openRepository(settings, "no");
      // The keys opened at start: a refresh never pays another scrypt unlock.
      for (const s of await databaseStatuses(repo, settings, new Date(), async () => this.keys)) {
        this.statuses.set(s.name, s);
        this.metrics.observeDatabase(s);
        this.metrics.observeDrills(s, this.config.databases.some((d) => d.name === s.name && d.schedule.drill !== undefined));
      }
      if (settings.repo && !/^[a-z0-9]+:\/\//.test(settings.repo)) {
        const fs = await statfs(settings.repo);
        this.metrics.observeVolume(repo.backend.location, fs.bavail * fs.bsize, fs.blocks * fs.bsize);
      }
      // One file = one record (data without a record was never archived).
      const wal = await new WalArchive(repo.backend).list();
      this.walNewestMs = wal.length > 0 ? wal.reduce((newest, f) => Math.max(newest, f.archivedAt.getTime()), 0) : undefined;
      if (wal.length > 0) this.metrics.observeWal(repo.backend.location, wal.reduce((newest, f) => Math.max(newest, f.archivedAt.getTime()), 0), wal.length);
    } catch (err) {
      this.log.error({ error: (err as Error).message }, "could not read the repository");
    }
  }

  private get health(): HealthInputs {
    return { databases: this.config.databases, statuses: this.statuses, outcomes: this.outcomes };
  }

  /** Serialised so two evaluations never race on the alert state. */
  private evaluate(): Promise<void> {
    this.evaluating = this.evaluating.then(() => this.alerter.evaluate(alertConditions(this.health, new Date()))).catch((err: unknown) => this.log.error({ error: (err as Error).message }, "alert evaluation failed"));
    return this.evaluating;
  }

  backupHealth(database?: string): HealthVerdict | undefined {
    return backupHealth(this.health, database, new Date());
  }

  /** The latest run of each scheduled job of a database: this process's, else the state file's. */
  private lastRuns(database: string): JobRun[] {
    const db = this.config.databases.find((d) => d.name === database);
    const runs: JobRun[] = [];
    for (const kind of Object.keys(db?.schedule ?? {}) as JobKind[]) {
      const o = this.outcomes.get(jobKey(database, kind));
      if (o && o.result !== "skipped") runs.push({ kind, at: o.startedAt.toISOString(), ok: o.result === "success", error: o.error?.message, note: o.note });
      else if (!o) {
        const r = this.state.get(jobKey(database, kind));
        if (r) runs.push({ kind, at: r.lastRunAt, ok: r.ok, error: r.error });
      }
    }
    return runs;
  }

  /** Load the config again; a bad one leaves the running config in place and says why. */
  async reload(): Promise<{ ok: true } | { ok: false; error: string }> {
    let next: DaemonConfig;
    let keys: AgeKeys | undefined;
    try {
      next = await loadDaemonConfig(this.config.path);
      // The repository or its passphrase may have changed: the new config must open it too.
      keys = (await openRepository(next.settings, "if-possible")).keys;
    } catch (err) {
      const error = (err as Error).message;
      this.log.error({ error }, "reload refused: keeping the running config");
      return { ok: false, error };
    }
    if (next.http.host !== this.config.http.host || next.http.port !== this.config.http.port) {
      this.log.warn("http.listen changed: restart the daemon to move the endpoint");
    }
    const names = new Set(next.databases.map((d) => d.name));
    for (const old of this.config.databases) if (!names.has(old.name)) this.metrics.forget(old.name);
    for (const key of [...this.outcomes.keys()]) if (!names.has(key.split("/")[0]!)) this.outcomes.delete(key);
    this.alerter.configure(next.alerts);
    this.alerter.retain(names);
    this.streams.reloaded(next);
    this.config = next;
    this.keys = keys;
    this.apply();
    await this.refresh();
    this.log.info({ databases: [...names] }, "config reloaded");
    return { ok: true };
  }

  /** Stop scheduling, wait for running jobs to finish, close the endpoint. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.phase = "stopping";
    this.scheduler.stop();
    for (const t of this.timers) clearInterval(t);
    this.log.info({ running: [...this.queues.entries()].filter(([, q]) => q.running).map(([n, q]) => `${n}/${q.running}`) }, "stopping: waiting for running jobs");
    await Promise.all([...[...this.queues.values()].map((q) => q.idle()), this.streams.stop()]);
    await this.evaluating;
    await this.http?.close();
    this.log.info("daemon stopped");
  }

  /** Interrupt running jobs (a second signal): they clean up and fail as interrupted. */
  abortRunning(): void {
    this.abort.abort();
  }

  nextRun(database: string, kind: JobKind): Date | undefined {
    return this.scheduler.nextRun(database, kind);
  }
}
