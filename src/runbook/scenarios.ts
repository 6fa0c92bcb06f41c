import { resolve } from "node:path";
import type { Settings } from "../config/load.js";
import { describePg, parsePgUrl, withDatabase } from "../engines/postgres/connection.js";
import { shellQuote } from "../engines/postgres/physical/shell-command.js";
import type { RunbookScenario, RunbookStep, RunbookVariable } from "./runbook.js";

export interface BackupKinds {
  /** Full logical backups of the source (SQLite snapshots, pg_dump). */
  logical: number;
  /** Full PostgreSQL base backups of the source (with the WAL archive: point in time). */
  physical: number;
}

export interface RunbookFacts {
  database: string;
  /** The source as manifests record it (no credentials). */
  source: string;
  engine: "sqlite" | "postgres";
  settings: Settings;
  backups: BackupKinds & { error?: string };
  commands: readonly string[];
}

const q = shellQuote;
const need = (name: string, what: string): string => `: "\${${name}:?set ${name} to ${what}}"`;
const RESTORE_DIR = "an empty folder on this host with room for a copy of the database";

/** The variables the commands read: those the runbook sets, and those the operator must. */
export function environmentOf(f: RunbookFacts): RunbookVariable[] {
  const s = f.settings;
  const vars: RunbookVariable[] = [];
  if (s.configPath) vars.push({ name: "HOLDFAST_CONFIG", value: resolve(s.configPath), purpose: "the settings these commands were written from" });
  vars.push({ name: "HOLDFAST_REPO", value: s.repo, purpose: "the primary repository (the offsite scenario replaces it)" });
  if (s.passphraseFile) vars.push({ name: "HOLDFAST_PASSPHRASE_FILE", value: s.passphraseFile, purpose: "file holding the repository passphrase" });
  if (s.identityFile) vars.push({ name: "HOLDFAST_IDENTITY_FILE", value: s.identityFile, purpose: "age identity file of the repository" });
  if ([s.repo, ...(s.copyTo ?? [])].some((l) => l?.startsWith("s3://"))) {
    if (s.s3?.endpoint) vars.push({ name: "HOLDFAST_S3_ENDPOINT", value: s.s3.endpoint, purpose: "S3-compatible endpoint" });
    vars.push({ name: "AWS_ACCESS_KEY_ID", purpose: "S3 credentials (with AWS_SECRET_ACCESS_KEY, or AWS_PROFILE): from your secret store" });
  }
  if (f.engine === "postgres") vars.push({ name: "PGPASSWORD", purpose: "the database password when the server asks for one (or PGPASSFILE / ~/.pgpass): never in a command line" });
  if (f.engine === "sqlite" || f.backups.physical > 0) vars.push({ name: "RESTORE_DIR", purpose: RESTORE_DIR + (f.backups.physical > 0 ? " that the server OS user can reach" : "") });
  if (f.backups.physical > 0) {
    vars.push({ name: "TARGET_TIME", purpose: "point-in-time: a moment just before the bad change, with time zone (e.g. 2026-11-22 10:15:00+00)" });
    vars.push({ name: "PGDATA", purpose: "point-in-time in place: the data directory of the server being replaced" });
  }
  return vars;
}

export function scenariosFor(f: RunbookFacts): { scenarios: RunbookScenario[]; skipped: { id: RunbookScenario["id"]; reason: string }[] } {
  const scenarios: RunbookScenario[] = [];
  const skipped: { id: RunbookScenario["id"]; reason: string }[] = [];
  const logicalPossible = f.engine === "sqlite" || f.backups.logical > 0 || f.backups.physical === 0;
  if (logicalPossible) scenarios.push(fullRestore(f));
  else skipped.push({ id: "full-restore", reason: `the repository holds only base backups of ${f.source}: restore the newest data with the point-in-time scenario (leave TARGET_TIME out of its restore for latest)` });

  if (f.backups.physical > 0) scenarios.push(pointInTime(f));
  else skipped.push({ id: "point-in-time", reason: pointInTimeMissing(f) });

  const offsite = f.settings.copyTo ?? [];
  if (offsite.length === 0) skipped.push({ id: "offsite", reason: "no copy_to in holdfast.yaml: there is no offsite copy to restore from" });
  else scenarios.push(fromOffsite(f, offsite, !logicalPossible));

  if (f.commands.includes("export") && f.commands.includes("import")) scenarios.push(applicationImport(f));
  else skipped.push({ id: "application-import", reason: "this build of holdfast has no export/import commands" });
  return { scenarios, skipped };
}

function pointInTimeMissing(f: RunbookFacts): string {
  if (f.engine === "sqlite") return "SQLite backups are snapshots: the nearest point is the newest backup before the change (holdfast list, then restore that id)";
  if (f.backups.error) return "the repository could not be read, so whether base backups exist is unknown: print the runbook again when it answers";
  return `no base backup of ${f.source} (holdfast backup --type physical, with WAL archiving: holdfast setup-archiving)`;
}

/** Restore the newest backup beside the database, check it, then in place (after a safety backup). */
function restoreSteps(f: RunbookFacts): RunbookStep[] {
  const name = f.database;
  const steps: RunbookStep[] = [{ say: "Prove the newest backup's stored files against their checksums", run: `holdfast verify latest --source ${q(name)}` }];
  if (f.engine === "sqlite") {
    const side = `"$RESTORE_DIR"/${q(`${name}.db`)}`;
    steps.push(
      { say: "Restore it beside the live database, into a new file", run: `${need("RESTORE_DIR", RESTORE_DIR)}\nholdfast restore latest --source ${q(name)} --to ${side}` },
      { say: "Check the side copy: SQLite's integrity check must say ok (then look at the data: sqlite3 on that file)", run: `test "$(sqlite3 ${side} 'PRAGMA integrity_check')" = ok` },
      { say: "Stop the application's writes to the database", manual: "stop-writes" },
      { say: "Replace the live database: the current file (with its -wal) is moved aside into .holdfast-safety/ beside it first, and its path printed", run: `holdfast restore latest --source ${q(name)} --in-place` },
      { say: "Remove the side copy", run: `rm -f -- ${side}` },
    );
    return steps;
  }
  const ref = parsePgUrl(f.source);
  const sideDb = `${ref.database}_runbook_check`;
  const side = q(describePg(withDatabase(ref, sideDb)));
  steps.push(
    { say: `Restore it beside the live database, into a new database ${sideDb}; rows and content checksums are compared with the backup`, run: `holdfast restore latest --source ${q(name)} --to ${side} --checksums` },
    { say: `Check the side copy: it answers, and holds the tables (then look at the data: psql ${side})`, run: `psql ${side} -v ON_ERROR_STOP=1 -Atc 'SELECT count(*) FROM pg_stat_user_tables' | grep -qv '^0$'` },
    { say: "Stop the application's writes (the in-place restore terminates remaining connections after --terminate-timeout)", manual: "stop-writes" },
    { say: "Replace the live database: a safety backup of it is taken first (its id is printed; `holdfast restore <id> --in-place` puts it back)", run: `holdfast restore latest --source ${q(name)} --in-place` },
    { say: "Remove the side copy", run: `psql ${q(describePg(withDatabase(ref, "postgres")))} -v ON_ERROR_STOP=1 -c ${q(`DROP DATABASE "${sideDb}"`)}` },
  );
  return steps;
}

function fullRestore(f: RunbookFacts): RunbookScenario {
  return {
    id: "full-restore",
    title: "Full restore of the newest backup",
    when: "the database is lost or damaged and the newest backup is the point to go back to",
    steps: restoreSteps(f),
  };
}

function pointInTime(f: RunbookFacts): RunbookScenario {
  return {
    id: "point-in-time",
    title: "Point-in-time restore to just before a bad change",
    when: "a bad change (a DROP, a faulty migration, a wrong UPDATE) must be undone: the cluster is recovered from a base backup and the archived WAL up to TARGET_TIME",
    steps: [...recoverySteps(f, true), { say: "Take a new base backup: recovery began a new timeline", run: `holdfast backup --type physical ${q(f.source)}` }],
  };
}

/**
 * Recover the cluster from a base backup and the archived WAL: a side copy first, checked, then
 * PGDATA itself. To TARGET_TIME (and archiving on, into the same repository) or, from an offsite
 * copy, to the end of the archive with archiving left off until a new primary repository exists.
 */
function recoverySteps(f: RunbookFacts, toTargetTime: boolean): RunbookStep[] {
  const name = q(f.database);
  const restore = `holdfast restore --type physical --source ${name}${toTargetTime ? ' --target-time "$TARGET_TIME"' : ""}`;
  const side = `$RESTORE_DIR/${f.database}-${toTargetTime ? "pitr" : "offsite"}`;
  const dir = need("RESTORE_DIR", RESTORE_DIR + " that the server OS user can reach");
  return [
    toTargetTime ? { say: "Name the moment and the side folder", run: `${need("TARGET_TIME", "a moment just before the bad change, with time zone")}\n${dir}` } : { say: "Name the side folder", run: dir },
    { say: toTargetTime ? "Check that the archive reaches the moment: the recovery window must cover TARGET_TIME" : "Check the archive: the newest base backup must be consistent, and the window shows how far it reaches", run: "holdfast wal verify" },
    { say: `Recover a side copy of the cluster to ${toTargetTime ? "TARGET_TIME" : "the end of the archive"} (archiving off: it never writes into the repository)`, run: `${restore} --to "${side}"` },
    { say: `Check the side copy: start it as the server OS user on a private socket (pg_ctl -D "${side}" -o "-c listen_addresses='' -c unix_socket_directories='$RESTORE_DIR'" -w start), ${toTargetTime ? "look for the rows the change removed, stop it. To take back only some rows, copy them from it (pg_dump --table) and stop here" : "look at the data, stop it"}`, manual: "inspect" },
    { say: "Stop the server whose data directory is PGDATA", manual: "stop-server" },
    toTargetTime
      ? { say: "Recover PGDATA itself to TARGET_TIME: the current directory is moved aside as PGDATA.holdfast-safety-<time> (put back if this fails), and the recovered cluster keeps archiving on its new timeline", run: `${need("PGDATA", "the data directory being replaced")}\n${restore} --to "$PGDATA" --replace --archive` }
      : { say: "Recover PGDATA itself: the current directory (if any) is moved aside as PGDATA.holdfast-safety-<time>; the recovered cluster does not archive (the offsite copy stays as it is)", run: `${need("PGDATA", "the data directory being replaced")}\n${restore} --to "$PGDATA" --replace` },
    { say: "Start the server and check the data", manual: "start-server" },
  ];
}

/** physicalOnly: the database has only base backups; the copy holds them with their WAL archive. */
function fromOffsite(f: RunbookFacts, offsite: string[], physicalOnly: boolean): RunbookScenario {
  const [first, ...others] = offsite as [string, ...string[]];
  const s3 = first.startsWith("s3://") ? " (S3: the AWS credentials and endpoint of the environment)" : "";
  return {
    id: "offsite",
    title: "Restore from the offsite copy after losing the primary repository",
    when: "the primary repository is gone or damaged (disk, account, ransomware) and the database must come back from its offsite copy",
    steps: [
      { say: `Read the offsite copy instead of the primary${s3}; the same passphrase or identity opens it${others.length ? ` (other copies: ${others.join(", ")})` : ""}`, run: `export HOLDFAST_REPO=${q(first)}` },
      ...(physicalOnly ? recoverySteps(f, false) : restoreSteps(f)),
      { say: physicalOnly ? "When a new primary repository exists, point repo: at it, set archiving up again (holdfast setup-archiving) and take a new base backup (copy_to keeps the offsite copy)" : "When a new primary repository exists, point repo: at it and take a new backup (copy_to keeps the offsite copy)", manual: "new-primary" },
    ],
  };
}

function applicationImport(f: RunbookFacts): RunbookScenario {
  return {
    id: "application-import",
    title: "Application import of selected data",
    when: "only some rows or tables must come back, merged into the live database",
    steps: [
      {
        say:
          `Restore a side copy of ${f.database} as in the full restore (never over the live database); export the rows that must come back from it ` +
          `(holdfast export <side copy> --table 'orders' --where 'orders: <condition>' --out "$RESTORE_DIR/rows.export"); ` +
          `plan their import into ${f.database} (holdfast import "$RESTORE_DIR/rows.export" --to <${f.database}> --strategy skip --dry-run); ` +
          `then apply it with --backup-first, which names the backup that undoes it (docs/export-import.md)`,
        manual: "import",
      },
    ],
  };
}
