import { randomBytes } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { failureText, runBounded, type Env } from "./cli-run.js";
import { checkRepository, listBackups, proveSqlite, type Ledger, type Manifest } from "./repo-check.js";
import type { FaultRow } from "./report.js";
import { createSource, sqliteFacts } from "./sqlite-source.js";
import { outcome, runRow, type Plan } from "./trial.js";

const PRUNE = ["prune", "--keep-last", "1"];

function ledgerFor(ws: Workspace): Ledger {
  return { env: ws.env, scratch: ws.dir, prove: proveSqlite, known: new Set(), proven: new Set() };
}

async function removable(env: Env): Promise<Set<string>> {
  const r = await runCli([...PRUNE, "--dry-run", "--json"], { env });
  if (r.code !== 0) throw new Error(`prune --dry-run failed: ${failureText(r)}`);
  const { plan } = JSON.parse(r.stdout) as { plan: { decisions: { id: string; keep: boolean }[] } };
  return new Set(plan.decisions.filter((d) => !d.keep).map((d) => d.id));
}

/** A backup that reported success is listed, and (via the ledger) verifies and restores to its own source. */
async function reportedBackup(stdout: string, env: Env, label: string): Promise<{ id?: string; problems: string[] }> {
  let m: Manifest;
  try {
    m = JSON.parse(stdout) as Manifest;
  } catch {
    return { problems: [`${label} exit 0 without its manifest on stdout`] };
  }
  const listed = (await listBackups(env)).find((b) => b.id === m.id);
  if (!listed) return { id: m.id, problems: [`${label} reported ${m.id} as complete, but it is not listed`] };
  if (listed.source.uri !== m.source.uri) return { id: m.id, problems: [`${label} reported ${m.id} for ${m.source.uri}, but ${m.id} is listed as ${listed.source.uri}'s`] };
  return { id: m.id, problems: [] };
}

/** Two backups of different databases into one repository, started at the same instant. */
async function backupBackupRow(plan: Plan): Promise<FaultRow> {
  const ws = await workspace();
  try {
    const sources = ["north", "south", "east"].map((name) => createSource(ws.dir, name, 2_000));
    const ledger = ledgerFor(ws);
    return await runRow("at once: backup × backup (different sources)", plan.trials, plan, async () => {
      const results = await Promise.all(sources.map((s) => runBounded(["backup", `sqlite:${s}`, "--json"], ws.env)));
      const problems: string[] = [];
      let lost = 0;
      const ids: string[] = [];
      for (const [i, r] of results.entries()) {
        if (r.code !== 0) {
          problems.push(`backup of ${basename(sources[i]!)} failed (${r.code}): ${failureText(r)}`);
          continue;
        }
        const seen = await reportedBackup(r.stdout, ws.env, `backup of ${basename(sources[i]!)}`);
        if (seen.problems.length > 0) lost++;
        problems.push(...seen.problems);
        if (seen.id) ids.push(seen.id);
      }
      if (new Set(ids).size !== ids.length) problems.push(`two successful backups were given the same id: ${ids.join(", ")}`);
      const repo = await checkRepository(ledger);
      return outcome([...problems, ...repo.problems], lost + repo.lostOrCorrupt);
    });
  } finally {
    await ws.cleanup();
  }
}

/** A second command against prune running at the same time, on a repository with something to prune. */
async function withPruneRow(plan: Plan, fault: string, other: (ws: Workspace, n: number, ledger: Ledger) => Promise<{ problems: string[]; lost: number }>): Promise<FaultRow> {
  const ws = await workspace();
  try {
    const src = createSource(ws.dir, "app", 5_000);
    const ledger = ledgerFor(ws);
    return await runRow(fault, plan.trials, plan, async (n) => {
      for (let i = 0; i < 3; i++) {
        const b = await runCli(["backup", `sqlite:${src}`], { env: ws.env });
        if (b.code !== 0) throw new Error(`backup before the trial failed: ${failureText(b)}`);
      }
      const ready = await checkRepository(ledger);
      const gone = await removable(ws.env);
      const [prune, mine] = await Promise.all([runBounded(PRUNE, ws.env), other(ws, n, ledger)]);
      const problems = [...ready.problems, ...mine.problems];
      if (prune.code !== 0) problems.push(`prune failed (${prune.code}): ${failureText(prune)}`);
      const repo = await checkRepository(ledger, gone);
      return outcome([...problems, ...repo.problems], ready.lostOrCorrupt + mine.lost + repo.lostOrCorrupt);
    });
  } finally {
    await ws.cleanup();
  }
}

const backupDuringPrune = (ws: Workspace) => async () => {
  const r = await runBounded(["backup", `sqlite:${join(ws.dir, "app.db")}`, "--json"], ws.env);
  if (r.code !== 0) return { problems: [`backup during prune failed (${r.code}): ${failureText(r)}`], lost: 0 };
  const seen = await reportedBackup(r.stdout, ws.env, "backup during prune");
  return { problems: seen.problems, lost: seen.problems.length > 0 ? 1 : 0 };
};

/** Restore the oldest backup (the one prune removes) while prune runs: success means the right data. */
async function restoreDuringPrune(ws: Workspace, n: number): Promise<{ problems: string[]; lost: number }> {
  const oldest = (await listBackups(ws.env)).sort((a, b) => a.id.localeCompare(b.id))[0]!;
  const target = join(ws.dir, `restored-${n}.db`);
  const r = await runBounded(["restore", oldest.id, "--to", target], ws.env);
  try {
    if (r.code !== 0) return { problems: [], lost: 0 }; // refusing (the backup went away) is allowed
    const facts = sqliteFacts(target);
    const wrong = (oldest.tables ?? []).filter((t) => facts.rows[t.name] !== t.rows);
    if (facts.integrity !== "ok" || wrong.length > 0) return { problems: [`restore during prune reported success but ${target} is wrong (${facts.integrity})`], lost: 1 };
    return { problems: [], lost: 0 };
  } catch (err) {
    return { problems: [`restore during prune reported success but ${target} is unreadable: ${(err as Error).message}`], lost: 1 };
  } finally {
    await rm(target, { force: true });
  }
}

/** Push a WAL segment while prune runs (no physical backup: prune must keep all WAL). */
async function walPushDuringPrune(ws: Workspace, n: number): Promise<{ problems: string[]; lost: number }> {
  const name = `00000001000000000000${n.toString(16).toUpperCase().padStart(4, "0")}`;
  const path = join(ws.dir, name);
  await writeFile(path, randomBytes(16 * 1024 * 1024));
  const r = await runBounded(["wal-push", path], ws.env);
  if (r.code !== 0) return { problems: [`wal-push during prune failed (${r.code}): ${failureText(r)}`], lost: 0 };
  const problems: string[] = [];
  let lost = 0;
  for (let i = 1; i <= n; i++) {
    const seg = `00000001000000000000${i.toString(16).toUpperCase().padStart(4, "0")}`;
    const dest = join(ws.dir, `fetched-${seg}`);
    const f = await runCli(["wal-fetch", seg, dest, "--prefetch", "0"], { env: ws.env });
    const same = f.code === 0 && (await readFile(dest)).equals(await readFile(join(ws.dir, seg)));
    if (!same) {
      lost++;
      problems.push(`archived segment ${seg} ${f.code === 0 ? "came back different" : `cannot be fetched (${f.code}): ${failureText(f)}`}`);
    }
    await rm(dest, { force: true });
  }
  return { problems, lost };
}

export async function pairRows(plan: Plan): Promise<FaultRow[]> {
  return [
    await backupBackupRow(plan),
    await withPruneRow(plan, "at once: backup × prune", (ws) => backupDuringPrune(ws)()),
    await withPruneRow(plan, "at once: restore × prune", (ws, n) => restoreDuringPrune(ws, n)),
    await withPruneRow(plan, "at once: wal-push × prune", (ws, n) => walPushDuringPrune(ws, n)),
  ];
}
