import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, workspace } from "../support/cli.js";
import { failureText, killAfter, runBounded, type Env } from "./cli-run.js";
import type { FaultRow } from "./report.js";
import { outcome, runRow, type Plan } from "./trial.js";

const SEGMENT = 16 * 1024 * 1024;
const segmentName = (n: number): string => `00000001000000000000${n.toString(16).toUpperCase().padStart(4, "0")}`;

/** wal-fetch gives back exactly the pushed bytes (or a problem). */
async function fetchSame(env: Env, dir: string, name: string): Promise<string[]> {
  const dest = join(dir, `fetched-${name}`);
  const r = await runCli(["wal-fetch", name, dest, "--prefetch", "0"], { env });
  if (r.code !== 0) return [`wal-fetch ${name} failed (${r.code}): ${failureText(r)}`];
  const [a, b] = await Promise.all([readFile(join(dir, name)), readFile(dest)]);
  return a.equals(b) ? [] : [`wal-fetch ${name} returned different bytes`];
}

/**
 * kill -9 of `wal-push` (as archive_command runs it): the segment is archived whole or not at all,
 * PostgreSQL's retry succeeds, and every segment archived before still comes back byte for byte.
 */
export async function walPushKillRow(plan: Plan): Promise<FaultRow> {
  const ws = await workspace();
  try {
    const pushed: string[] = [];
    const write = async (n: number): Promise<string> => {
      const name = segmentName(n);
      await writeFile(join(ws.dir, name), randomBytes(SEGMENT));
      return name;
    };
    const first = await write(1);
    const calibration = await runBounded(["wal-push", join(ws.dir, first)], ws.env);
    if (calibration.code !== 0) throw new Error(`wal-push failed: ${failureText(calibration)}`);
    pushed.push(first);
    return await runRow("kill -9 during wal-push", plan.trials, plan, async (n) => {
      const name = await write(n + 1);
      const args = ["wal-push", join(ws.dir, name)];
      const kill = await killAfter(args, ws.env, plan.rng.next() * calibration.ms);
      const problems = kill.survivors.map((s) => `${s} outlived the killed command`);
      let lost = 0;
      const early = await runCli(["wal-fetch", name, join(ws.dir, `early-${name}`), "--prefetch", "0"], { env: ws.env });
      if (early.code === 0) {
        const same = (await readFile(join(ws.dir, name))).equals(await readFile(join(ws.dir, `early-${name}`)));
        if (!same) problems.push(`after the kill, wal-fetch ${name} returned a partial segment`);
      }
      const retry = await runBounded(args, ws.env);
      if (retry.code !== 0) problems.push(`the same wal-push afterwards failed (${retry.code}): ${failureText(retry)}`);
      else pushed.push(name);
      const verify = await runCli(["wal", "verify"], { env: ws.env });
      if (verify.code !== 0) problems.push(`wal verify failed (${verify.code}): ${failureText(verify)}`);
      const checks = n === plan.trials ? pushed : [pushed[0]!, name];
      for (const seg of checks) {
        const wrong = await fetchSame(ws.env, ws.dir, seg);
        if (wrong.length > 0) lost++;
        problems.push(...wrong);
      }
      return outcome(problems, lost);
    });
  } finally {
    await ws.cleanup();
  }
}
