import type { Command } from "commander";
import { shellQuote } from "../engines/postgres/physical/shell-command.js";
import type { Runbook } from "../runbook/runbook.js";
import { prepare, printResult } from "./program.js";

/** runbook: the exact recovery commands of one configured database. */
export function registerRunbookCommands(program: Command): void {
  program
    .command("runbook <database>")
    .description("print the exact commands that recover a database from holdfast.yaml: full restore, point in time, from the offsite copy")
    .option("--json", "the runbook as data")
    .action(async (database: string, _o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const commands = program.commands.map((c) => c.name());
      const { buildRunbook } = await import("../runbook/runbook.js");
      const runbook = await buildRunbook({ database, settings, commands }, ctx);
      printResult(opts, runbook, formatRunbook);
    });
}

/** The runbook as a bash document: comments say, commands run (bash, set -euo pipefail). */
export function formatRunbook(r: Runbook): string {
  const kinds = r.backups.error ? `unknown (repository unreadable: ${r.backups.error})` : `${r.backups.logical} logical, ${r.backups.physical} base backup(s) (read from ${r.backups.readFrom})`;
  const lines = [
    `# Recovery runbook for ${r.database} (${r.source})`,
    `# Repository: ${r.repository}${r.offsite.length ? `; offsite: ${r.offsite.join(", ")}` : ""}`,
    `# Backups of this database: ${kinds}`,
    "# Run each scenario's commands in order in one bash (set -euo pipefail); lines marked (by hand) are yours.",
    "",
    "# Environment",
    ...r.environment.map((v) => (v.value !== undefined ? `export ${v.name}=${shellQuote(v.value)}  # ${v.purpose}` : `# ${v.name}: ${v.purpose} (set it yourself)`)),
  ];
  r.scenarios.forEach((s, i) => {
    lines.push("", `## ${i + 1}. ${s.title}`, `# When: ${s.when}`);
    s.steps.forEach((step, n) => {
      lines.push(`# ${n + 1}. ${step.manual ? "(by hand) " : ""}${step.say}`);
      if (step.run) lines.push(step.run);
    });
  });
  if (r.skipped.length) lines.push("", "## Not in this runbook", ...r.skipped.map((s) => `# ${s.id}: ${s.reason}`));
  return lines.join("\n");
}
