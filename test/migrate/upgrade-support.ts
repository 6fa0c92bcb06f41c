import { execFileSync } from "node:child_process";
import { expect } from "vitest";
import type { PgCluster } from "../support/pg-cluster.js";
import { runCli, type RunResult, type Workspace } from "../support/cli.js";
import { fingerprint, tableNames } from "../support/pg-data.js";

/** The upgrade report as JSON (the CLI prints it with --json whatever the exit status). */
export interface Report {
  runId: string;
  ok: boolean;
  finalState: string;
  backupId: string;
  runner: string;
  versionBefore?: string;
  versionAfter?: string;
  steps: { name: string; ok: boolean; durationMs: number; detail?: string }[];
  checks: { kind: string; name: string; ok: boolean; detail: string }[];
  failure?: { step: string; message: string };
  rollback: { mode: string; taken: boolean; by?: string; downError?: string; proven?: boolean; problems?: string[]; safetyBackupId?: string; safetyCopy?: string; error?: string };
  runnerOutput?: string;
}

export async function runUpgrade(ws: Workspace, args: string[]): Promise<{ result: RunResult; report: Report }> {
  const result = await runCli(["upgrade", ...args, "--json"], { env: ws.env });
  let report: Report;
  try {
    report = JSON.parse(result.stdout) as Report;
  } catch {
    throw new Error(`no JSON report (exit ${result.code}): ${result.stderr}`);
  }
  return { result, report };
}

/**
 * A PostgreSQL database's state measured without Holdfast: pg_dump --schema-only (comment lines
 * and the per-dump \restrict key dropped) and an ordered md5 of every table but the upgrade log.
 */
export async function pgState(pg: PgCluster, db: string): Promise<{ schema: string; tables: Record<string, string> }> {
  const dump = execFileSync(`${pg.binDir}/pg_dump`, ["--schema-only", "-h", pg.socketDir, "-p", String(pg.port), "-U", pg.superuser, db]).toString();
  const schema = dump.split("\n").filter((l) => l.trim() && !l.startsWith("--") && !/^\\(un)?restrict /.test(l)).join("\n");
  const tables: Record<string, string> = {};
  for (const t of await tableNames(pg, db)) if (t !== "public.holdfast_upgrades") tables[t] = await fingerprint(pg, db, t);
  return { schema, tables };
}

export function expectStep(report: Pick<Report, "steps">, name: string, ok: boolean): void {
  const step = report.steps.find((s) => s.name === name);
  expect(step, `step ${name} in ${JSON.stringify(report.steps)}`).toBeDefined();
  expect(step!.ok, `${name}: ${step!.detail}`).toBe(ok);
}
