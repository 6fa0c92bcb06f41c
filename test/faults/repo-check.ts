import { rm } from "node:fs/promises";
import { join } from "node:path";
import { runCli } from "../support/cli.js";
import { failureText, type Env } from "./cli-run.js";
import { sourceName, sqliteFacts } from "./sqlite-source.js";

export interface Manifest {
  id: string;
  engine: string;
  source: { uri: string };
  tables?: { name: string; rows: number }[];
  files: { key: string; name: string }[];
  details?: Record<string, unknown>;
}

/** Restores one backup somewhere harmless and says what is wrong with the result (nothing: []). */
export type Prover = (m: Manifest, scratch: string, env: Env) => Promise<string[]>;

/** What a repository must keep: every backup seen complete stays listed, verifies and restores. */
export interface Ledger {
  env: Env;
  scratch: string;
  prove: Prover;
  /** Ids that must still be listed (a backup once complete is never lost). */
  known: Set<string>;
  /** Ids already restored and checked (backups are immutable: once is enough). */
  proven: Set<string>;
  /** The manifest of every backup already verified, as listed then: a later change is corruption. */
  manifests?: Map<string, string>;
}

export async function listBackups(env: Env): Promise<Manifest[]> {
  const r = await runCli(["list", "--json"], { env });
  if (r.code !== 0) throw new Error(`list failed (${r.code}): ${failureText(r)}`);
  return (JSON.parse(r.stdout) as { backups: Manifest[] }).backups;
}

/**
 * The invariants after a fault: `list` works and still holds every known backup, every backup
 * verifies (new ones each time, all of them with `verify --all` when `full`), and every backup not
 * yet proven restores to its own source's data. `allowedGone` are ids a prune was entitled to remove.
 */
export async function checkRepository(
  ledger: Ledger,
  allowedGone: Set<string> = new Set(),
  options: { full?: boolean } = {},
): Promise<{ lostOrCorrupt: number; problems: string[] }> {
  const problems: string[] = [];
  let lostOrCorrupt = 0;
  let listed: Manifest[];
  try {
    listed = await listBackups(ledger.env);
  } catch (err) {
    return { lostOrCorrupt: ledger.known.size, problems: [(err as Error).message] };
  }
  const ids = new Set(listed.map((m) => m.id));
  for (const id of ledger.known) {
    if (ids.has(id) || allowedGone.has(id)) continue;
    lostOrCorrupt++;
    problems.push(`backup ${id} lost (no longer listed)`);
  }
  for (const id of allowedGone) ledger.known.delete(id);
  // Backups are immutable: a backup verified once is re-read only in a full check; in between, its
  // listed manifest must stay byte-for-byte the same.
  const seen = (ledger.manifests ??= new Map());
  const changed = listed.filter((m) => seen.has(m.id) && seen.get(m.id) !== JSON.stringify(m)).map((m) => m.id);
  for (const id of changed) problems.push(`manifest of backup ${id} changed`);
  lostOrCorrupt += changed.length;
  const toVerify = options.full ? listed.map((m) => m.id) : listed.filter((m) => !seen.has(m.id)).map((m) => m.id);
  const v = toVerify.length > 0 ? await runCli(["verify", ...(options.full ? ["--all"] : toVerify), "--json"], { env: ledger.env }) : undefined;
  if (v && v.code !== 0) {
    const failed = parseFailedVerify(v.stdout);
    lostOrCorrupt += Math.max(failed.length, 1);
    problems.push(`verify ${options.full ? "--all" : toVerify.join(" ")} exit ${v.code}: ${failed.join(", ") || failureText(v)}`);
  } else for (const m of listed) if (toVerify.includes(m.id)) seen.set(m.id, JSON.stringify(m));
  for (const m of listed) {
    if (allowedGone.has(m.id)) continue; // planned to go: neither owed nor worth proving
    ledger.known.add(m.id);
    if (ledger.proven.has(m.id)) continue;
    const wrong = await ledger.prove(m, ledger.scratch, ledger.env).catch((err: unknown) => [`restore check of ${m.id} broke: ${(err as Error).message}`]);
    if (wrong.length > 0) {
      lostOrCorrupt++;
      problems.push(...wrong);
    } else ledger.proven.add(m.id);
  }
  return { lostOrCorrupt, problems };
}

function parseFailedVerify(stdout: string): string[] {
  try {
    const report = JSON.parse(stdout) as { backups: { id: string; ok: boolean }[] };
    return report.backups.filter((b) => !b.ok).map((b) => b.id);
  } catch {
    return [];
  }
}

/** SQLite: restore to a new file; integrity ok, its own source's origin, the manifest's row counts. */
export const proveSqlite: Prover = async (m, scratch, env) => {
  const target = join(scratch, `proof-${m.id}.db`);
  try {
    const r = await runCli(["restore", m.id, "--to", target], { env });
    if (r.code !== 0) return [`restore ${m.id} failed (${r.code}): ${failureText(r)}`];
    const facts = sqliteFacts(target);
    const problems: string[] = [];
    if (facts.integrity !== "ok") problems.push(`restore of ${m.id}: integrity_check ${facts.integrity}`);
    const want = sourceName(m.source.uri);
    if (facts.origin !== want) problems.push(`restore of ${m.id} (source ${want}) holds ${facts.origin || "another database"}'s data`);
    for (const t of m.tables ?? []) {
      if (facts.rows[t.name] !== t.rows) problems.push(`restore of ${m.id}: ${t.name} has ${facts.rows[t.name]} rows, manifest says ${t.rows}`);
    }
    return problems;
  } finally {
    await rm(target, { force: true });
    await rm(`${target}-wal`, { force: true });
    await rm(`${target}-shm`, { force: true });
  }
};
