import { resolve } from "node:path";
import type { Command } from "commander";
import { HoldfastError } from "../errors.js";
import type { WalVerifyReport } from "../commands/wal-verify.js";
import type { ArchivingReport } from "../commands/setup-archiving.js";
import { prepare, printResult, type ActionOptions } from "./program.js";
import { takeMarker } from "../wal/push-markers.js";

/** wal-push, wal-fetch (PostgreSQL's archive/restore commands), wal verify, setup-archiving. */
export function registerWalCommands(program: Command): void {
  program
    .command("wal-push <path>")
    .description("archive one WAL file (PostgreSQL archive_command: holdfast wal-push %p)")
    .action(async (path: string, _o, cmd: Command) => {
      // As in the lean entry (wal-push-main.ts): a file an earlier call pushed along with its own is
      // acknowledged before the configuration, the logger or the repository code is loaded.
      const repo = cmd.optsWithGlobals<ActionOptions>().repo ?? process.env.HOLDFAST_REPO;
      if (repo && (await takeMarker(resolve(path), repo))) return;
      const { settings, ctx } = await prepare(cmd);
      const { walPush } = await import("../commands/wal.js");
      await walPush(path, settings, ctx);
    });

  program
    .command("wal-fetch <file> <dest>")
    .description("restore one archived WAL file (PostgreSQL restore_command: holdfast wal-fetch %f %p)")
    .option("--prefetch <n>", "also fetch the next n segments into pg_wal/holdfast-prefetch (one key unlock for all)", "8")
    .action(async (file: string, dest: string, _o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const prefetch = Number(opts.prefetch);
      if (!Number.isInteger(prefetch) || prefetch < 0) throw new HoldfastError("USAGE", `--prefetch expects a whole number, got "${String(opts.prefetch)}"`);
      const { walFetch } = await import("../commands/wal.js");
      await walFetch(file, dest, settings, ctx, { prefetch });
    });

  const wal = program.command("wal").description("the archived PostgreSQL WAL");
  wal
    .command("verify")
    .description("find gaps in the archived WAL per timeline and show the recovery window")
    .option("--stored", "also re-read every WAL object and check its stored SHA-256")
    .option("--json", "JSON report")
    .action(async (_o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const { walVerify } = await import("../commands/wal-verify.js");
      const report = await walVerify(settings, { stored: Boolean(opts.stored) }, ctx);
      printResult(opts, report, formatWalVerify);
      if (!report.ok) throw new HoldfastError("VERIFY_FAILED", `WAL archive check failed: ${report.problems[0]}`);
    });

  program
    .command("setup-archiving <url>")
    .description("show the postgresql.conf lines for WAL archiving into this repository and check the server")
    .option("--json", "JSON report")
    .action(async (url: string, _o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const { setupArchiving } = await import("../commands/setup-archiving.js");
      const report = await setupArchiving(url, settings, ctx);
      printResult(opts, report, formatArchiving);
      if (!report.ok) throw new HoldfastError("ARCHIVING_NOT_SET_UP", `archiving is not set up correctly on ${report.server}: ${report.checks.find((c) => !c.ok)?.name}`);
    });
}

export function formatWalVerify(r: WalVerifyReport): string {
  const lines = [`WAL archive in ${r.repository}: ${r.walFiles} file(s), segment size ${r.segmentSize ?? "unknown"}`];
  for (const t of r.timelines) {
    lines.push(`  timeline ${t.timeline}: ${t.segments} segment(s) ${t.first} … ${t.last}${t.missingCount ? `, ${t.missingCount} MISSING: ${t.missing.join(", ")}${t.missingCount > t.missing.length ? ", …" : ""}` : ", no gaps"}`);
  }
  for (const b of r.backups) {
    lines.push(`  backup ${b.backupId}: ${b.consistent ? "restorable" : "NOT restorable"}, reaches LSN ${b.reachableLsnText} on timeline ${b.targetTimeline}${b.missing ? ` (stops at missing segment ${b.missing})` : ""}`);
  }
  if (r.window) {
    lines.push(`recovery window: from ${r.window.from} (backup ${r.window.earliest.backupId}, LSN ${r.window.earliest.lsn})`);
    lines.push(`                 to LSN ${r.window.latest.lsn} on timeline ${r.window.latest.timeline} (WAL archived by ${r.window.to}), ${r.window.baseBackups} base backup(s)`);
  } else lines.push("recovery window: none (no restorable physical base backup)");
  for (const p of r.problems) lines.push(`problem: ${p}`);
  lines.push(r.ok ? "ok" : "FAILED");
  return lines.join("\n");
}

function formatArchiving(r: ArchivingReport): string {
  return [
    `# postgresql.conf for ${r.server} (archive_mode needs a restart; the rest a reload)`,
    ...r.lines,
    "",
    ...r.checks.map((c) => `${c.ok ? "ok    " : "FAILED"} ${c.name}: ${c.detail}`),
  ].join("\n");
}
