import { writeFile } from "node:fs/promises";
import { Command, Option } from "commander";
import { HoldfastError } from "../errors.js";
import { parseDurationFlag } from "../config/duration.js";
import type { DrillResult } from "../drill/drill.js";
import type { DrillRecord } from "../drill/record.js";
import { formatMs } from "../drill/verdict.js";
import { table } from "./text.js";
import { prepare, printResult } from "./program.js";
import { keepYoungGenerationSmall } from "./young-generation.js";

/** drill, drills. */
export function registerDrillCommands(program: Command): void {
  program
    .command("drill <database>")
    .description("disaster-recovery drill: restore into a scratch target, prove it in layers, measure RTO and RPO, record a report")
    .option("--from <where>", "primary, or an offsite repository (a copy_to location)", "primary")
    .option("--target-time <timestamp>", "recover to this moment (with time zone); physical: point-in-time recovery, logical/SQLite: the newest backup before it")
    .option("--latest", "recover to the newest data (default)")
    .option("--scratch <target>", "where to restore: a new or empty folder (SQLite, physical) or a PostgreSQL server URL (logical); default: a folder in tmp_dir, or the backup's own server")
    .option("--checks <file>", "smoke SQL: each statement must return a truthy first column")
    .addOption(new Option("--type <type>", "PostgreSQL: drill the logical or the physical backups of the source").choices(["logical", "physical"]))
    .option("--rto <duration>", "RTO target (overrides drill.targets.rto in holdfast.yaml), e.g. 30m")
    .option("--rpo <duration>", "RPO target (overrides drill.targets.rpo), e.g. 1h")
    .option("--report-out <file>", "also write the HTML report to this file")
    .option("--json", "the drill record as JSON")
    .action(async (database: string, _o, cmd: Command) => {
      keepYoungGenerationSmall();
      const { settings, ctx, opts } = await prepare(cmd);
      if (opts.latest && opts.targetTime) throw new HoldfastError("USAGE", "give either --target-time or --latest, not both");
      const { runDrill } = await import("../drill/drill.js");
      const result = await runDrill(
        {
          database,
          from: opts.from as string,
          targetTime: opts.targetTime as string | undefined,
          type: opts.type as string | undefined,
          scratch: opts.scratch as string | undefined,
          checksFile: opts.checks as string | undefined,
          rtoMs: opts.rto ? parseDurationFlag(String(opts.rto), "--rto", "30m or 2h") : undefined,
          rpoMs: opts.rpo ? parseDurationFlag(String(opts.rpo), "--rpo", "5m or 1h") : undefined,
          settings,
        },
        ctx,
      );
      if (opts.reportOut) await writeFile(String(opts.reportOut), result.html, { mode: 0o600 });
      printResult(opts, result.record, () => formatDrill(result));
      const r = result.record;
      if (r.verdict === "FAIL") throw new HoldfastError("DRILL_FAILED", `drill ${r.id} of ${r.database} FAILED: ${r.reasons[0]}`, { hint: `report: holdfast drills; ${r.reasons.length} finding(s)` });
      if (r.verdict === "INCONCLUSIVE") throw new HoldfastError("DRILL_INCONCLUSIVE", `drill ${r.id} of ${r.database} is INCONCLUSIVE: ${r.reasons[0]}`);
    });

  program
    .command("drills")
    .description("list recorded drills, newest first")
    .option("--json", "JSON output")
    .action(async (_o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const { drillHistory } = await import("../drill/history.js");
      const history = await drillHistory(settings, ctx);
      printResult(opts, history, (h) => formatHistory(h.drills, h.damaged));
    });
}

function formatDrill({ record: r, stored }: DrillResult): string {
  const lines = [`drill ${r.id} of ${r.database} (backup ${r.backupId ?? "?"}): ${r.verdict}`];
  for (const reason of r.reasons) lines.push(`  ! ${reason}`);
  lines.push(`  RTO ${formatMs(r.rtoMs)}${r.targets.rtoMs !== undefined ? ` (target ${formatMs(r.targets.rtoMs)})` : ""}: ${r.phases.map((p) => `${p.name} ${formatMs(p.ms)}`).join(", ") || "no phase ran"}`);
  lines.push(`  RPO ${formatMs(r.rpo.ms)}${r.targets.rpoMs !== undefined ? ` (target ${formatMs(r.targets.rpoMs)})` : ""}: ${r.rpo.requestedPoint} vs newest data ${r.rpo.newestData ?? "unknown"} (${r.rpo.basis})`);
  const counts = ["pass", "fail", "inconclusive", "skipped"].map((s) => `${r.checks.filter((c) => c.status === s).length} ${s}`).join(", ");
  lines.push(`  checks: ${counts}`);
  lines.push(stored.location ? `  record: ${stored.location}` : `  record NOT stored: ${stored.error}`);
  return lines.join("\n");
}

function formatHistory(drills: DrillRecord[], damaged: { key: string; reason: string }[]): string {
  if (drills.length === 0 && damaged.length === 0) return "no drills recorded";
  const rows = drills.map((d) => [d.id, d.database, d.verdict, formatMs(d.rtoMs), formatMs(d.rpo.ms), d.backupId ?? "-"]);
  return [table(["DRILL", "DATABASE", "VERDICT", "RTO", "RPO", "BACKUP"], rows), ...damaged.map((d) => `damaged record ${d.key}: ${d.reason}`)].join("\n");
}
