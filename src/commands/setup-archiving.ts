import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Settings } from "../config/load.js";
import { connect, describePg, parsePgUrl } from "../engines/postgres/connection.js";
import { cliEntry, pgCommandLine, quoteConf, raw, repoArgument, shellQuote } from "../engines/postgres/physical/shell-command.js";
import { WalArchive } from "../repository/wal-archive.js";
import { MARKER_DIR, markerText } from "../wal/push-markers.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";

export interface ArchivingCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ArchivingReport {
  ok: boolean;
  server: string;
  /** The exact postgresql.conf lines to use. */
  lines: string[];
  checks: ArchivingCheck[];
}

/**
 * archive_command for this repository: absolute node and CLI paths, no secret (wal-push needs
 * none). It names the lean entry point (same as `holdfast wal-push %p`, less start-up per segment).
 * With a known repository, /bin/sh first looks for the marker an earlier push left for this file
 * (wal/push-markers.ts: written only once the file was stored and recorded) and acknowledges it
 * without starting Node — a few milliseconds instead of Node's ~80 ms start — so a backlog of ready
 * files drains at the speed of the batch that pushed them. Any other case (no marker, another
 * repository's marker, an unreadable one) runs the push, which decides as before.
 */
export function archiveCommand(settings: Settings): string {
  const parts = [process.execPath, cliEntry("wal-push-main.js"), raw("%p")];
  if (settings.configPath) parts.push("--config", resolve(settings.configPath));
  if (!settings.repo) return pgCommandLine(parts);
  const repo = repoArgument(settings.repo);
  parts.push("--repo", repo);
  // PostgreSQL turns %% into %, so the shell sees ${m%/*} (dirname of %p) and the marker's path.
  const expected = pgCommandLine([markerText(repo).replace(/\n$/, "")]);
  const markerCheck = `m=%p; m="\${m%%/*}/${MARKER_DIR}/%f"; { IFS= read -r l <"$m" && [ "$l" = ${expected} ] && rm -f "$m"; } 2>/dev/null || exec`;
  return `${markerCheck} ${pgCommandLine(parts)}`;
}

/** Does the server's archive_command push into this repository (local folder or URL, however quoted)? */
function archivesHere(current: string, settings: Settings): boolean {
  if (!/wal-push/.test(current)) return false;
  if (!settings.repo) return true;
  const location = repoArgument(settings.repo);
  return [location, shellQuote(location), pgCommandLine([location])].some((form) => current.includes(form));
}

/**
 * Show the settings that make a server archive into this repository, and check the running
 * server: wal_level, archive_mode, archive_command, pg_stat_archiver (last archived segment,
 * failures), and that its last archived segment is really in the repository.
 */
export async function setupArchiving(url: string, settings: Settings, ctx: CommandContext): Promise<ArchivingReport> {
  const { repo } = await openRepository(settings, "no");
  const command = archiveCommand(settings);
  const lines = ["wal_level = replica", "archive_mode = on", `archive_command = ${quoteConf(command)}`, "archive_timeout = 60"];
  const ref = parsePgUrl(url);
  const client = await connect(ref, "setup-archiving");
  const checks: ArchivingCheck[] = [];
  try {
    const s = (await client.query(`SELECT current_setting('wal_level') AS wal_level, current_setting('archive_mode') AS archive_mode,
        current_setting('archive_command') AS archive_command, current_setting('archive_timeout') AS archive_timeout,
        a.archived_count, a.last_archived_wal, a.last_archived_time, a.failed_count, a.last_failed_wal, a.last_failed_time
        FROM pg_stat_archiver a`)).rows[0] as Record<string, unknown>;
    checks.push({ name: "wal_level", ok: s.wal_level !== "minimal", detail: String(s.wal_level) });
    checks.push({ name: "archive_mode", ok: s.archive_mode === "on" || s.archive_mode === "always", detail: `${String(s.archive_mode)}${s.archive_mode === "off" ? " (changing it needs a restart)" : ""}` });
    const current = String(s.archive_command);
    checks.push({ name: "archive_command", ok: archivesHere(current, settings), detail: current || "(empty)" });
    const failedLast = s.last_failed_time && (!s.last_archived_time || new Date(String(s.last_failed_time)) > new Date(String(s.last_archived_time)));
    checks.push({
      name: "pg_stat_archiver",
      ok: !failedLast,
      detail: `${String(s.archived_count)} archived (last ${String(s.last_archived_wal ?? "none")} at ${String(s.last_archived_time ?? "-")}), ${String(s.failed_count)} failed${s.last_failed_wal ? ` (last ${String(s.last_failed_wal)} at ${String(s.last_failed_time)})` : ""}`,
    });
    if (s.last_archived_wal) {
      const name = String(s.last_archived_wal);
      const inRepo = WalArchive.nameOf(name) && (await new WalArchive(repo.backend).record(name)) !== undefined;
      checks.push({ name: "last archived segment in repository", ok: inRepo, detail: inRepo ? `${name} found in ${repo.backend.location}` : `${name} is not in ${repo.backend.location}: the server archives somewhere else` });
    }
    checks.push(await ownershipCheck(client, repo.backend.location));
  } finally {
    await client.end().catch(() => undefined);
  }
  ctx.log.debug({ server: describePg(ref), checks }, "setup-archiving");
  return { ok: checks.every((c) => c.ok), server: describePg(ref), lines, checks };
}

/** The classic pitfall: the server's OS user must be able to write the repository folder. */
async function ownershipCheck(client: { query(sql: string): Promise<{ rows: unknown[] }> }, location: string): Promise<ArchivingCheck> {
  const name = "repository writable by the server's OS user";
  try {
    const row = (await client.query("SELECT current_setting('data_directory') AS d")).rows[0] as { d: string };
    const [data, repoDir] = await Promise.all([stat(row.d), stat(location)]);
    if (data.uid === repoDir.uid) return { name, ok: true, detail: `both owned by uid ${data.uid}` };
    return { name, ok: false, detail: `the server runs as uid ${data.uid} but ${location} belongs to uid ${repoDir.uid}: chown -R the repository (and make the CLI readable) for that user` };
  } catch {
    return { name, ok: true, detail: "not checked (remote server, remote repository, or not permitted)" };
  }
}
