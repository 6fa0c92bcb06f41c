import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { workspace, type Workspace } from "../support/cli.js";
import { failureText, killAfter, runBounded, type Env } from "./cli-run.js";
import { checkRepository, listBackups, proveSqlite, type Ledger } from "./repo-check.js";
import type { FaultRow } from "./report.js";
import { createSource, liveDamage, sqliteFacts } from "./sqlite-source.js";
import { outcome, runRow, type Plan } from "./trial.js";

/** ≈ 200 bytes a row of incompressible data: 30,000 rows make a backup take about half a second. */
const rows = (plan: Plan): number => (plan.quick ? 15_000 : 30_000);

function ledgerFor(ws: Workspace, env: Env = ws.env): Ledger {
  return { env, scratch: ws.dir, prove: proveSqlite, known: new Set(), proven: new Set() };
}

async function timed(args: string[], env: Env): Promise<number> {
  const r = await runBounded(args, env);
  if (r.code !== 0) throw new Error(`${args.join(" ")} failed (${r.code}): ${failureText(r)}`);
  return r.ms;
}

function startWriter(db: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [resolve(import.meta.dirname, "../support/sqlite-writer.mjs"), db], { stdio: ["ignore", "pipe", "ignore"] });
  return new Promise((res, rej) => {
    child.stdout!.once("data", () => res(child));
    child.once("exit", (code) => rej(new Error(`writer exited ${code}`)));
  });
}

/** kill -9 of `backup sqlite:` while an application keeps writing to the database. */
async function backupRow(plan: Plan): Promise<FaultRow> {
  const ws = await workspace();
  const src = createSource(ws.dir, "app", rows(plan));
  const writer = await startWriter(src);
  try {
    const args = ["backup", `sqlite:${src}`];
    const ms = await timed(args, ws.env);
    const ledger = ledgerFor(ws);
    const setup = await checkRepository(ledger);
    return await runRow("kill -9 during backup (SQLite, writer running)", plan.trials, plan, async (n) => {
      const before = sqliteFacts(src);
      const kill = await killAfter(args, ws.env, plan.rng.next() * ms);
      const problems = kill.survivors.map((s) => `${s} outlived the killed command`);
      const damage = liveDamage(src, before);
      const repo = await checkRepository(ledger);
      const retry = await runBounded(args, ws.env);
      if (retry.code !== 0) problems.push(`the same backup afterwards failed (${retry.code}): ${failureText(retry)}`);
      const after = await checkRepository(ledger, new Set(), { full: n === plan.trials });
      return outcome([...problems, ...damage, ...repo.problems, ...after.problems], repo.lostOrCorrupt + after.lostOrCorrupt, damage.length > 0 ? 1 : 0);
    }, setup);
  } finally {
    writer.kill("SIGKILL");
    await ws.cleanup();
  }
}

/** kill -9 of `restore <id> --to <new file>`: the target is absent or complete, never half there. */
async function restoreNewRow(plan: Plan): Promise<FaultRow> {
  const ws = await workspace();
  try {
    const src = createSource(ws.dir, "app", rows(plan));
    await timed(["backup", `sqlite:${src}`], ws.env);
    const [m] = await listBackups(ws.env);
    const ledger = ledgerFor(ws);
    const setup = await checkRepository(ledger);
    const targets = join(ws.dir, "targets");
    await mkdir(targets);
    const ms = await timed(["restore", m!.id, "--to", join(targets, "calibration.db")], ws.env);
    return await runRow("kill -9 during restore to a new target (SQLite)", plan.trials, plan, async (n) => {
      const target = join(targets, `t${n}.db`);
      const args = ["restore", m!.id, "--to", target];
      const kill = await killAfter(args, ws.env, plan.rng.next() * ms);
      const problems = kill.survivors.map((s) => `${s} outlived the killed command`);
      if (existsSync(target)) problems.push(...targetProblems(target, m!.tables ?? [], "after the kill"));
      const retry = await runBounded(args, ws.env);
      const complete = retry.code === 0 || (retry.code === 18 && problems.length === 0 && existsSync(target));
      if (!complete) problems.push(`the same restore afterwards failed (${retry.code}): ${failureText(retry)}`);
      else problems.push(...targetProblems(target, m!.tables ?? [], "after the retry"));
      const leftovers = readdirSync(targets).filter((f) => f.includes(`t${n}.db`) && !/^t\d+\.db(-wal|-shm)?$/.test(f));
      if (leftovers.length > 0) problems.push(`leftovers next to the target after the retry: ${leftovers.join(", ")}`);
      const repo = await checkRepository(ledger, new Set(), { full: n === plan.trials });
      return outcome([...problems, ...repo.problems], repo.lostOrCorrupt);
    }, setup);
  } finally {
    await ws.cleanup();
  }
}

function targetProblems(target: string, tables: { name: string; rows: number }[], when: string): string[] {
  try {
    const facts = sqliteFacts(target);
    const wrong = tables.filter((t) => facts.rows[t.name] !== t.rows).map((t) => `${t.name} ${facts.rows[t.name]}≠${t.rows}`);
    if (facts.integrity !== "ok" || wrong.length > 0) return [`target ${target} ${when} is partial (integrity ${facts.integrity}; ${wrong.join(", ")})`];
    return [];
  } catch (err) {
    return [`target ${target} ${when} is visible but unreadable: ${(err as Error).message}`];
  }
}

/** kill -9 of `restore <id> --in-place`: the live database is the old one or the backup, intact. */
async function restoreInPlaceRow(plan: Plan): Promise<FaultRow> {
  const ws = await workspace();
  try {
    const live = createSource(ws.dir, "live", rows(plan));
    await timed(["backup", `sqlite:${live}`], ws.env);
    const [m] = await listBackups(ws.env);
    const ledger = ledgerFor(ws);
    const setup = await checkRepository(ledger);
    const args = ["restore", m!.id, "--in-place"];
    const ms = await timed(args, ws.env);
    return await runRow("kill -9 during restore --in-place (SQLite)", plan.trials, plan, async (n) => {
      createMoreRows(live);
      const before = sqliteFacts(live);
      const kill = await killAfter(args, ws.env, plan.rng.next() * ms);
      const problems = kill.survivors.map((s) => `${s} outlived the killed command`);
      const damage = inPlaceDamage(live, before, m!.tables ?? []);
      const retry = await runBounded(args, ws.env);
      if (retry.code !== 0) problems.push(`the same restore afterwards failed (${retry.code}): ${failureText(retry)}`);
      else problems.push(...targetProblems(live, m!.tables ?? [], "after the retry"));
      const repo = await checkRepository(ledger, new Set(), { full: n === plan.trials });
      return outcome([...problems, ...damage, ...repo.problems], repo.lostOrCorrupt, damage.length > 0 ? 1 : 0);
    }, setup);
  } finally {
    await ws.cleanup();
  }
}

/** The live database moves on after the backup, so "old" and "restored" can be told apart. */
function createMoreRows(path: string): void {
  const db = new Database(path);
  try {
    db.exec("INSERT INTO items (body, n) SELECT body, n FROM items LIMIT 500");
  } finally {
    db.close();
  }
}

function inPlaceDamage(live: string, before: ReturnType<typeof sqliteFacts>, tables: { name: string; rows: number }[]): string[] {
  let now: ReturnType<typeof sqliteFacts>;
  try {
    now = sqliteFacts(live);
  } catch (err) {
    return [`live database after the kill unreadable: ${(err as Error).message}`];
  }
  const same = (rows: Record<string, number>) => Object.entries(rows).every(([t, n]) => now.rows[t] === n);
  const asBackup = Object.fromEntries(tables.map((t) => [t.name, t.rows]));
  if (now.integrity !== "ok") return [`live database after the kill: integrity_check ${now.integrity}`];
  if (!same(before.rows) && !same(asBackup)) return [`live database after the kill is neither the old one nor the backup (${JSON.stringify(now.rows)})`];
  return [];
}

export async function sqliteKillRows(plan: Plan): Promise<FaultRow[]> {
  return [await backupRow(plan), await restoreNewRow(plan), await restoreInPlaceRow(plan)];
}
