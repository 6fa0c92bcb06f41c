import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { DatabaseStatus } from "../commands/status.js";
import type { JobOutcome } from "./jobs.js";

/**
 * The daemon's Prometheus metrics. Counters and the histogram count what this process ran; gauges
 * mirror the repository (newest backup, sizes, last verify) and are refreshed from its catalog,
 * so they are right from the first scrape after a restart.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly backups = new Counter({ name: "holdfast_backups_total", help: "Backup jobs run, by result", labelNames: ["database", "result"], registers: [this.registry] });
  private readonly jobs = new Counter({ name: "holdfast_jobs_total", help: "Scheduled jobs run, by kind and result", labelNames: ["database", "job", "result"], registers: [this.registry] });
  private readonly duration = new Histogram({
    name: "holdfast_backup_duration_seconds",
    help: "Duration of backup jobs",
    labelNames: ["database"],
    buckets: [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400],
    registers: [this.registry],
  });
  private readonly size = new Gauge({ name: "holdfast_backup_size_bytes", help: "Stored size of the newest backup", labelNames: ["database"], registers: [this.registry] });
  private readonly lastSuccess = new Gauge({ name: "holdfast_last_success_timestamp_seconds", help: "When the newest complete backup finished (Unix time)", labelNames: ["database"], registers: [this.registry] });
  private readonly lastVerify = new Gauge({ name: "holdfast_last_verify_success", help: "1 when the latest verification passed, 0 when it failed", labelNames: ["database"], registers: [this.registry] });
  private readonly lastJobFailed = new Gauge({ name: "holdfast_last_job_failed", help: "1 when the latest run of this job failed", labelNames: ["database", "job"], registers: [this.registry] });
  private readonly repoBytes = new Gauge({ name: "holdfast_repository_bytes", help: "Stored bytes of all backups of this database", labelNames: ["database"], registers: [this.registry] });
  private readonly backupCount = new Gauge({ name: "holdfast_backups", help: "Complete backups of this database in the repository", labelNames: ["database"], registers: [this.registry] });
  private readonly stale = new Gauge({ name: "holdfast_backup_stale", help: "1 when the newest backup is older than stale_after", labelNames: ["database"], registers: [this.registry] });
  private readonly freeBytes = new Gauge({ name: "holdfast_repository_free_bytes", help: "Free bytes on the volume of a local repository", labelNames: ["repository"], registers: [this.registry] });
  private readonly capacityBytes = new Gauge({ name: "holdfast_repository_capacity_bytes", help: "Size of the volume of a local repository", labelNames: ["repository"], registers: [this.registry] });
  private readonly walArchived = new Gauge({ name: "holdfast_wal_last_archived_timestamp_seconds", help: "When the newest WAL file reached the archive (Unix time)", labelNames: ["repository"], registers: [this.registry] });
  private readonly windowStart = new Gauge({ name: "holdfast_recovery_window_start_timestamp_seconds", help: "Earliest moment a point-in-time restore can reach (Unix time)", labelNames: ["database"], registers: [this.registry] });
  private readonly windowEnd = new Gauge({ name: "holdfast_recovery_window_end_timestamp_seconds", help: "About the latest moment a point-in-time restore can reach: archive time of the last gap-free WAL segment (Unix time)", labelNames: ["database"], registers: [this.registry] });
  private readonly drillLastSuccess = new Gauge({ name: "holdfast_drill_last_success_timestamp_seconds", help: "When the newest passing drill finished (Unix time)", labelNames: ["database"], registers: [this.registry] });
  private readonly drillRto = new Gauge({ name: "holdfast_drill_rto_seconds", help: "Measured RTO of the newest drill (absent when its restore did not complete)", labelNames: ["database"], registers: [this.registry] });
  private readonly drillRpo = new Gauge({ name: "holdfast_drill_rpo_seconds", help: "Measured RPO of the newest drill (absent when its newest data could not be established)", labelNames: ["database"], registers: [this.registry] });
  private readonly drillPassed = new Gauge({ name: "holdfast_drill_passed", help: "1 when the newest drill passed; 0 when it failed, was inconclusive, or a scheduled database has none yet", labelNames: ["database"], registers: [this.registry] });
  private readonly drillRtoTarget = new Gauge({ name: "holdfast_drill_rto_target_seconds", help: "RTO objective the newest drill was judged against", labelNames: ["database"], registers: [this.registry] });
  private readonly drillRpoTarget = new Gauge({ name: "holdfast_drill_rpo_target_seconds", help: "RPO objective the newest drill was judged against", labelNames: ["database"], registers: [this.registry] });
  private readonly lastVerifyPassed = new Gauge({ name: "holdfast_last_verify_success_timestamp_seconds", help: "When the most recent passing verification of one of its backups ran (Unix time)", labelNames: ["database"], registers: [this.registry] });
  private readonly verifyInterval = new Gauge({ name: "holdfast_verify_interval_seconds", help: "Interval of the verify (or deep_verify, the shorter) schedule", labelNames: ["database"], registers: [this.registry] });
  private readonly copyScheduled = new Gauge({ name: "holdfast_copy_scheduled", help: "1 for each offsite repository (copy_to) a database's copy schedule copies to", labelNames: ["database", "target"], registers: [this.registry] });
  private readonly copyLastSuccess = new Gauge({ name: "holdfast_copy_last_success_timestamp_seconds", help: "When the last successful copy to this offsite repository started (Unix time)", labelNames: ["database", "target"], registers: [this.registry] });
  private readonly copyLastFailed = new Gauge({ name: "holdfast_copy_last_failed", help: "1 when the latest copy to this offsite repository failed", labelNames: ["database", "target"], registers: [this.registry] });
  private readonly exports = new Counter({ name: "holdfast_exports_total", help: "Export jobs run, by result", labelNames: ["database", "result"], registers: [this.registry] });
  private readonly exportDuration = new Histogram({ name: "holdfast_export_duration_seconds", help: "Duration of export jobs", labelNames: ["database"], buckets: [1, 5, 15, 60, 300, 900, 1800, 3600, 7200], registers: [this.registry] });
  private readonly exportRows = new Gauge({ name: "holdfast_export_rows", help: "Rows in the newest export", labelNames: ["database"], registers: [this.registry] });
  private readonly exportLastSuccess = new Gauge({ name: "holdfast_export_last_success_timestamp_seconds", help: "When the newest export finished (Unix time)", labelNames: ["database"], registers: [this.registry] });
  private copyTargets = new Map<string, string[]>();
  private readonly walFiles = new Gauge({ name: "holdfast_wal_archived_files", help: "WAL files in the archive", labelNames: ["repository"], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "holdfast_process_" });
  }

  observeJob(outcome: JobOutcome): void {
    const labels = { database: outcome.database, job: outcome.kind, result: outcome.result };
    this.jobs.inc(labels);
    if (outcome.result !== "skipped") this.lastJobFailed.set({ database: outcome.database, job: outcome.kind }, outcome.result === "failure" ? 1 : 0);
    if (outcome.kind === "backup") {
      this.backups.inc({ database: outcome.database, result: outcome.result });
      this.duration.observe({ database: outcome.database }, outcome.durationMs / 1000);
    }
    if (outcome.kind === "export" && outcome.result !== "skipped") {
      this.exports.inc({ database: outcome.database, result: outcome.result });
      this.exportDuration.observe({ database: outcome.database }, outcome.durationMs / 1000);
    }
    for (const c of outcome.copies ?? []) this.observeCopy(outcome.database, c.target, c.ok, c.ok ? outcome.startedAt.getTime() : undefined);
    if (outcome.kind === "verify" || outcome.kind === "deep_verify") {
      if (outcome.result !== "skipped") this.lastVerify.set({ database: outcome.database }, outcome.result === "success" ? 1 : 0);
    }
  }

  /** Zero every per-database series so a database shows up before its first job; `exports`: it has an export schedule. */
  declare(database: string, exports = false): void {
    for (const result of ["success", "failure"]) {
      this.backups.inc({ database, result }, 0);
      if (exports) this.exports.inc({ database, result }, 0);
    }
  }

  /**
   * What the schedule promises, so that missing results alert: the verify interval, and one
   * series per offsite repository a copy schedule copies to. Replaces the previous declaration.
   */
  declareSchedules(databases: { name: string; verifyIntervalMs?: number; copyTargets: string[] }[]): void {
    this.verifyInterval.reset();
    this.copyScheduled.reset();
    for (const db of databases) {
      if (db.verifyIntervalMs !== undefined) this.verifyInterval.set({ database: db.name }, db.verifyIntervalMs / 1000);
      for (const target of db.copyTargets) this.copyScheduled.set({ database: db.name, target }, 1);
      for (const gone of (this.copyTargets.get(db.name) ?? []).filter((t) => !db.copyTargets.includes(t))) this.forgetCopy(db.name, gone);
      this.copyTargets.set(db.name, db.copyTargets);
    }
  }

  /** One copy attempt (or, at start, the last one remembered); `successMs`: when the last success started. */
  observeCopy(database: string, target: string, ok: boolean, successMs: number | undefined): void {
    this.copyLastFailed.set({ database, target }, ok ? 0 : 1);
    if (successMs !== undefined) this.copyLastSuccess.set({ database, target }, successMs / 1000);
  }

  private forgetCopy(database: string, target: string): void {
    this.copyLastFailed.remove({ database, target });
    this.copyLastSuccess.remove({ database, target });
  }

  observeDatabase(s: DatabaseStatus): void {
    const labels = { database: s.name };
    this.repoBytes.set(labels, s.storedBytes);
    this.backupCount.set(labels, s.backups);
    this.stale.set(labels, s.stale ? 1 : 0);
    if (s.newest) {
      this.size.set(labels, s.newest.storedBytes);
      this.lastSuccess.set(labels, Date.parse(s.newest.finishedAt) / 1000);
    }
    if (s.newestExport) {
      this.exportRows.set(labels, s.newestExport.rows);
      this.exportLastSuccess.set(labels, Date.parse(s.newestExport.finishedAt) / 1000);
    }
    if (s.lastVerify) this.lastVerify.set(labels, s.lastVerify.ok ? 1 : 0);
    if (s.lastPassedVerifyAt) this.lastVerifyPassed.set(labels, Date.parse(s.lastPassedVerifyAt) / 1000);
    else this.lastVerifyPassed.remove(labels);
    if (s.recoveryWindow) {
      this.windowStart.set(labels, Date.parse(s.recoveryWindow.from) / 1000);
      this.windowEnd.set(labels, Date.parse(s.recoveryWindow.to) / 1000);
    } else {
      this.windowStart.remove(labels);
      this.windowEnd.remove(labels);
    }
  }

  /** From the drill records in the repository; `scheduled`: the daemon runs drills of this database. */
  observeDrills(s: DatabaseStatus, scheduled: boolean): void {
    const labels = { database: s.name };
    const set = (gauge: Gauge, value: number | undefined) => (value === undefined ? gauge.remove(labels) : gauge.set(labels, value));
    const d = s.lastDrill;
    set(this.drillLastSuccess, s.lastPassedDrillAt ? Date.parse(s.lastPassedDrillAt) / 1000 : undefined);
    set(this.drillRto, d?.rtoMs === undefined ? undefined : d.rtoMs / 1000);
    set(this.drillRpo, d?.rpoMs === undefined ? undefined : d.rpoMs / 1000);
    set(this.drillRtoTarget, d?.targets.rtoMs === undefined ? undefined : d.targets.rtoMs / 1000);
    set(this.drillRpoTarget, d?.targets.rpoMs === undefined ? undefined : d.targets.rpoMs / 1000);
    // A drill schedule with no drill yet is not healthy: 0, never an absent series.
    set(this.drillPassed, d ? (d.verdict === "PASS" ? 1 : 0) : scheduled ? 0 : undefined);
  }

  observeVolume(repository: string, free: number, capacity: number): void {
    this.freeBytes.set({ repository }, free);
    this.capacityBytes.set({ repository }, capacity);
  }

  observeWal(repository: string, newestMs: number, files: number): void {
    this.walArchived.set({ repository }, newestMs / 1000);
    this.walFiles.set({ repository }, files);
  }

  forget(database: string): void {
    for (const metric of [this.size, this.lastSuccess, this.lastVerify, this.repoBytes, this.backupCount, this.stale, this.windowStart, this.windowEnd, this.drillLastSuccess, this.drillRto, this.drillRpo, this.drillPassed, this.drillRtoTarget, this.drillRpoTarget, this.lastVerifyPassed, this.verifyInterval, this.exportRows, this.exportLastSuccess]) metric.remove({ database });
    for (const target of this.copyTargets.get(database) ?? []) {
      this.forgetCopy(database, target);
      this.copyScheduled.remove({ database, target });
    }
    this.copyTargets.delete(database);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
