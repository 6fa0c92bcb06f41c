import type { Settings } from "../config/load.js";
import { HoldfastError } from "../errors.js";
import type { CommandContext } from "../commands/context.js";
import { openRepository } from "../commands/open-repository.js";
import { withSecondaryFallback } from "../commands/secondary.js";
import { resolveSourceRef } from "../commands/source-ref.js";
import { engineForSource } from "../engines/registry.js";
import { kindOf } from "../repository/manifest.js";
import { environmentOf, scenariosFor, type BackupKinds } from "./scenarios.js";

/** One step of a scenario: what to do and why, and the exact shell command when there is one. */
export interface RunbookStep {
  say: string;
  /** A shell command (bash), exact: run as printed, with the runbook's environment. */
  run?: string;
  /** A step only the operator can do (stop the server, look at the data…), named; no command. */
  manual?: "stop-writes" | "inspect" | "stop-server" | "start-server" | "new-primary" | "import";
}

export interface RunbookScenario {
  id: "full-restore" | "point-in-time" | "offsite" | "application-import";
  title: string;
  when: string;
  steps: RunbookStep[];
}

/** A variable the commands read: set by the runbook itself (value) or by the operator (no value). */
export interface RunbookVariable {
  name: string;
  value?: string;
  purpose: string;
}

export interface Runbook {
  database: string;
  source: string;
  engine: "sqlite" | "postgres";
  repository: string;
  offsite: string[];
  /** What the repository holds of this source, as read when the runbook was written. */
  backups: BackupKinds & { readFrom?: string; error?: string };
  environment: RunbookVariable[];
  scenarios: RunbookScenario[];
  /** Scenarios that do not apply to this database, and why. */
  skipped: { id: RunbookScenario["id"]; reason: string }[];
}

export interface RunbookRequest {
  /** A database name from holdfast.yaml. */
  database: string;
  settings: Settings;
  /** Top-level CLI commands this build has (export/import decide the application-import scenario). */
  commands: readonly string[];
}

/**
 * The exact commands that recover one configured database, per scenario that applies to its
 * engine, its backups and its configuration: full restore, point in time, from the offsite copy,
 * application import. Written from holdfast.yaml and the repository's catalog (read from an
 * offsite copy when the primary is unreachable, or left out when neither answers), so it changes
 * when they do. Names secrets only by their variable or file, never their value.
 */
export async function buildRunbook(req: RunbookRequest, ctx: CommandContext): Promise<Runbook> {
  const configured = req.settings.databases[req.database];
  if (!configured) {
    const names = Object.keys(req.settings.databases);
    throw new HoldfastError("USAGE", `no database "${req.database}" in ${req.settings.configPath ?? "holdfast.yaml"}`, {
      hint: names.length ? `configured: ${names.join(", ")}` : "add it under databases: in holdfast.yaml",
    });
  }
  if (!req.settings.repo) throw new HoldfastError("USAGE", "no repository configured", { hint: "set repo: in holdfast.yaml (or HOLDFAST_REPO)" });
  const source = resolveSourceRef(req.database, req.settings);
  const engineName = engineForSource(configured.source).engine.name;
  if (engineName !== "sqlite" && engineName !== "postgres") {
    throw new HoldfastError("USAGE", `runbooks cover SQLite and PostgreSQL databases, not ${engineName} sources (${req.database})`);
  }
  const backups = await backupKinds(source, req.settings, ctx);
  const facts = { database: req.database, source, engine: engineName, settings: req.settings, backups, commands: req.commands } as const;
  const { scenarios, skipped } = scenariosFor(facts);
  return {
    database: req.database,
    source,
    engine: engineName,
    repository: req.settings.repo,
    offsite: req.settings.copyTo ?? [],
    backups,
    environment: environmentOf(facts),
    scenarios,
    skipped,
  };
}

/** Which kinds of full backups of the source the repository holds (or its offsite copy, when the primary is down). */
async function backupKinds(source: string, settings: Settings, ctx: CommandContext): Promise<Runbook["backups"]> {
  try {
    const found = await withSecondaryFallback(settings, ctx, async (s) => {
      const { repo } = await openRepository(s, "no");
      const mine = (await repo.catalog({ signal: ctx.signal })).backups.filter((m) => m.source.uri === source && kindOf(m) === "full");
      return { logical: mine.filter((m) => m.engine !== "postgres-physical").length, physical: mine.filter((m) => m.engine === "postgres-physical").length, readFrom: repo.backend.location };
    });
    return { logical: found.logical, physical: found.physical, readFrom: found.readFrom };
  } catch (err) {
    ctx.log.warn({ error: (err as Error).message }, "repository unreadable: the runbook assumes logical backups only");
    return { logical: 0, physical: 0, error: (err as Error).message };
  }
}
