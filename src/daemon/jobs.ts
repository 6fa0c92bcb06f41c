import { backup } from "../commands/backup.js";
import type { CommandContext } from "../commands/context.js";
import { openRepository } from "../commands/open-repository.js";
import { copyManifests } from "../commands/copy.js";
import { prune } from "../commands/prune.js";
import { openBackend } from "../storage/open.js";
import type { JobKind } from "../commands/status.js";
import { verify } from "../commands/verify.js";
import type { Settings } from "../config/load.js";
import { HoldfastError } from "../errors.js";
import { engineByName } from "../engines/registry.js";
import { kindOf, type Manifest } from "../repository/manifest.js";
import { newest } from "../repository/selection.js";
import type { DatabaseJobs } from "./config.js";
import { runDrill } from "../drill/drill.js";
import { exportData } from "../transfer/export.js";

export type JobResult = "success" | "failure" | "skipped";

export interface JobOutcome {
  database: string;
  kind: JobKind;
  result: JobResult;
  startedAt: Date;
  durationMs: number;
  /** Set for a successful backup job. */
  manifest?: Manifest;
  error?: { code: string; message: string };
  /** Why a job did nothing (e.g. nothing to verify yet). */
  note?: string;
  /** For a successful export job: the export's id and the rows it holds. */
  exported?: { id: string; rows: number };
  /** For a copy job: how each offsite repository fared (one failing does not stop the others). */
  copies?: CopyAttempt[];
}

export interface CopyAttempt {
  /** The offsite repository's location. */
  target: string;
  ok: boolean;
  error?: { code: string; message: string };
}

/** Run one scheduled job through the same library functions the CLI calls. Never throws. */
export async function runJob(kind: JobKind, db: DatabaseJobs, settings: Settings, ctx: CommandContext): Promise<JobOutcome> {
  const startedAt = new Date();
  const done = (result: JobResult, extra: Partial<JobOutcome> = {}): JobOutcome => ({ database: db.name, kind, result, startedAt, durationMs: Date.now() - startedAt.getTime(), ...extra });
  try {
    switch (kind) {
      case "backup": {
        const manifest = await backup({ source: db.source, settings, labels: { ...db.labels, scheduled: "daemon" } }, ctx);
        return done("success", { manifest });
      }
      case "verify":
      case "deep_verify": {
        const latest = await latestOf(db, settings);
        if (!latest) return done("skipped", { note: `no backup of ${db.sourceUri} yet` });
        const report = await verify({ refs: [latest.id], all: false, deep: kind === "deep_verify", settings }, ctx);
        const failed = report.backups.find((b) => !b.ok);
        return failed ? done("failure", { error: { code: failed.error?.code ?? "VERIFY_FAILED", message: failed.error?.message ?? `backup ${failed.id} failed verification` } }) : done("success");
      }
      case "prune": {
        // Prune holds one repository-wide lock; other databases' prunes may be due at the same minute.
        const patient = { ...settings, lockWaitMs: Math.max(settings.lockWaitMs, 15 * 60_000) };
        const result = await prune({ settings: patient, policy: db.policy, timeZone: db.timeZone ?? "UTC", sources: [db.sourceUri], dryRun: false }, ctx);
        return done("success", { note: `removed ${result.removed.length} backup(s)` });
      }
      case "copy": {
        const { repo } = await openRepository(settings, "no");
        const mine = (await repo.catalog()).backups.filter((m) => m.source.uri === db.sourceUri);
        // A database with base backups also keeps the offsite WAL archive up to date (rolls forward).
        const wholeWal = mine.some((m) => engineByName(m.engine).usesWalArchive);
        let copied = 0;
        let walCopied = 0;
        const copies: CopyAttempt[] = [];
        for (const to of settings.copyTo ?? []) {
          const dest = openBackend(to, { s3: settings.s3 });
          try {
            const result = await copyManifests(repo, mine, dest, ctx, { wholeWal });
            copied += result.copied.length;
            walCopied += result.wal?.copied ?? 0;
            copies.push({ target: dest.location, ok: true });
          } catch (err) {
            if (ctx.signal?.aborted) throw err;
            const e = err instanceof HoldfastError ? err : new HoldfastError("INTERNAL", (err as Error)?.message ?? String(err));
            copies.push({ target: dest.location, ok: false, error: { code: e.code, message: e.message } });
          }
        }
        const failed = copies.filter((c) => !c.ok);
        if (failed.length > 0) return done("failure", { copies, error: { code: failed[0]!.error!.code, message: failed.map((c) => `copy to ${c.target}: ${c.error!.message}`).join("; ") } });
        return done("success", { copies, note: `copied ${copied} backup(s)${wholeWal ? `, ${walCopied} WAL file(s)` : ""}` });
      }
      case "export": {
        // Its own lock (export:<source>), never the backup's: both only read the source, inside
        // their own snapshot; the database's queue runs them one after the other anyway.
        const { filter, sensitive } = db.export ?? { filter: { tables: [], excludeTables: [], where: {} }, sensitive: [] };
        const result = await exportData({ source: db.source, settings, filter, sensitive, encryption: "repository" }, ctx);
        const rows = result.manifest.tables.reduce((sum, t) => sum + t.rows, 0);
        return done("success", { exported: { id: result.id!, rows }, note: `export ${result.id}: ${result.manifest.tables.length} table(s), ${rows} row(s)` });
      }
      case "drill": {
        // The record is the result: metrics and status read it back from the repository.
        const { record, stored } = await runDrill({ database: db.name, settings }, ctx);
        const note = `drill ${record.id} of ${record.backupId ?? "?"}: ${record.verdict}`;
        if (stored.error) return done("failure", { note, error: { code: "STORAGE_FAILED", message: `drill ${record.id} (${record.verdict}) could not be recorded: ${stored.error}` } });
        if (record.verdict === "PASS") return done("success", { note });
        const code = record.verdict === "FAIL" ? "DRILL_FAILED" : "DRILL_INCONCLUSIVE";
        return done("failure", { note, error: { code, message: `drill ${record.id} of ${record.backupId ?? "?"}: ${record.verdict}: ${record.reasons.join("; ")}` } });
      }
    }
  } catch (err) {
    const e = err instanceof HoldfastError ? err : new HoldfastError("INTERNAL", (err as Error)?.message ?? String(err));
    return done("failure", { error: { code: e.code, message: e.message } });
  }
}

/** The backup `latest` means for this database: its newest full backup (never a safety backup). */
async function latestOf(db: DatabaseJobs, settings: Settings): Promise<Manifest | undefined> {
  const { repo } = await openRepository(settings, "no");
  const { backups } = await repo.catalog();
  return newest(backups.filter((m) => m.source.uri === db.sourceUri && kindOf(m) === "full"));
}
