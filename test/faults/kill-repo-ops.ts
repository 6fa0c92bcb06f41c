import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { failureText, killAfter, runBounded, type Env } from "./cli-run.js";
import { checkRepository, listBackups, proveSqlite, type Ledger } from "./repo-check.js";
import type { FaultRow } from "./report.js";
import { createSource } from "./sqlite-source.js";
import { outcome, runRow, type Plan } from "./trial.js";

function ledgerFor(ws: Workspace, env: Env = ws.env): Ledger {
  return { env, scratch: ws.dir, prove: proveSqlite, known: new Set(), proven: new Set() };
}

async function must(args: string[], env: Env): Promise<number> {
  const r = await runBounded(args, env);
  if (r.code !== 0) throw new Error(`${args.join(" ")} failed (${r.code}): ${failureText(r)}`);
  return r.ms;
}

interface PrunePlan {
  keep: Set<string>;
  remove: Set<string>;
}

async function prunePlan(env: Env, policy: string[]): Promise<PrunePlan> {
  const r = await runCli(["prune", "--dry-run", "--json", ...policy], { env });
  if (r.code !== 0) throw new Error(`prune --dry-run failed: ${failureText(r)}`);
  const { plan } = JSON.parse(r.stdout) as { plan: { decisions: { id: string; keep: boolean }[] } };
  const ids = (keep: boolean) => new Set(plan.decisions.filter((d) => d.keep === keep).map((d) => d.id));
  return { keep: ids(true), remove: ids(false) };
}

/** kill -9 of `prune`: what the plan keeps stays whole; a second prune finishes the job. */
async function pruneRow(plan: Plan): Promise<FaultRow> {
  const ws = await workspace();
  try {
    const src = createSource(ws.dir, "pruned", 2_000);
    const policy = ["--keep-last", "1"];
    const ledger = ledgerFor(ws);
    const fill = async () => {
      for (let i = 0; i < 4; i++) await must(["backup", `sqlite:${src}`], ws.env);
      return checkRepository(ledger);
    };
    const setup = await fill();
    const ms = await must(["prune", ...policy], ws.env);
    ledger.known = new Set((await listBackups(ws.env)).map((m) => m.id));
    return await runRow("kill -9 during prune", plan.trials, plan, async (n) => {
      const filled = await fill();
      const planned = await prunePlan(ws.env, policy);
      if (planned.remove.size === 0) throw new Error("prune plan removes nothing: the trial would prove nothing");
      const kill = await killAfter(["prune", ...policy], ws.env, plan.rng.next() * ms * 1.5);
      const problems = kill.survivors.map((s) => `${s} outlived the killed command`);
      const repo = await checkRepository(ledger, planned.remove, { full: n === plan.trials });
      const retry = await runBounded(["prune", ...policy], ws.env);
      if (retry.code !== 0) problems.push(`the same prune afterwards failed (${retry.code}): ${failureText(retry)}`);
      const listed = new Set((await listBackups(ws.env)).map((m) => m.id));
      for (const id of planned.keep) if (!listed.has(id)) problems.push(`kept backup ${id} gone after the retry`);
      for (const id of planned.remove) if (listed.has(id)) problems.push(`backup ${id} still listed after the retry`);
      const leftovers = [...planned.remove].filter((id) => existsSync(join(ws.repo, "backups", id)));
      if (leftovers.length > 0) {
        const check = await runCli(["check", "--json"], { env: ws.env });
        const reported = check.stdout;
        const silent = leftovers.filter((id) => !reported.includes(id));
        if (silent.length > 0) problems.push(`files of pruned backups left and not reported by check: ${silent.join(", ")}`);
      }
      return outcome([...filled.problems, ...problems, ...repo.problems], filled.lostOrCorrupt + repo.lostOrCorrupt);
    }, setup);
  } finally {
    await ws.cleanup();
  }
}

/** kill -9 of `copy --all --to <folder>`: the source untouched, the copy never shows a partial backup. */
async function copyRow(plan: Plan): Promise<FaultRow> {
  const ws = await workspace();
  try {
    const src = createSource(ws.dir, "copied", plan.quick ? 15_000 : 30_000);
    await must(["backup", `sqlite:${src}`], ws.env);
    await must(["backup", `sqlite:${src}`], ws.env);
    const ledger = ledgerFor(ws);
    const setup = await checkRepository(ledger);
    const ms = await must(["copy", "--all", "--to", join(ws.dir, "calibration-copy")], ws.env);
    return await runRow("kill -9 during copy (to a folder)", plan.trials, plan, async (n) => {
      const dest = join(ws.dir, `offsite-${n}`);
      const args = ["copy", "--all", "--to", dest];
      const kill = await killAfter(args, ws.env, plan.rng.next() * ms);
      const problems = kill.survivors.map((s) => `${s} outlived the killed command`);
      const destEnv = { ...ws.env, HOLDFAST_REPO: dest };
      const destLedger: Ledger = { env: destEnv, scratch: ws.dir, prove: proveSqlite, known: new Set(), proven: new Set() };
      let lost = 0;
      if (existsSync(join(dest, "holdfast.json"))) {
        const partial = await checkRepository(destLedger);
        problems.push(...partial.problems.map((p) => `copy after the kill: ${p}`));
        lost += partial.lostOrCorrupt;
      }
      const retry = await runBounded(args, ws.env);
      if (retry.code !== 0) problems.push(`the same copy afterwards failed (${retry.code}): ${failureText(retry)}`);
      else {
        const whole = await checkRepository(destLedger);
        problems.push(...whole.problems.map((p) => `copy after the retry: ${p}`));
        lost += whole.lostOrCorrupt;
        const copied = new Set((await listBackups(destEnv)).map((m) => m.id));
        for (const id of ledger.known) if (!copied.has(id)) problems.push(`copy after the retry lacks ${id}`);
      }
      const repo = await checkRepository(ledger, new Set(), { full: n === plan.trials });
      return outcome([...problems, ...repo.problems], lost + repo.lostOrCorrupt);
    }, setup);
  } finally {
    await ws.cleanup();
  }
}

export async function repoOpKillRows(plan: Plan): Promise<FaultRow[]> {
  return [await pruneRow(plan), await copyRow(plan)];
}
