import { workspace } from "../support/cli.js";
import { seedApp } from "../support/pg-data.js";
import { shareWithServer, startArchivingCluster } from "../support/pitr.js";
import { failureText, killAfter, runBounded } from "./cli-run.js";
import { checksums, clusterQuery, proveLogical, provePhysical } from "./pg-fixture.js";
import { checkRepository, type Ledger, type Prover } from "./repo-check.js";
import type { FaultRow } from "./report.js";
import { outcome, runRow, type Plan } from "./trial.js";

/**
 * kill -9 of PostgreSQL backups (pg_dump and pg_basebackup running under the CLI), on one real
 * archiving cluster: the live database's checksums never change, the repository stays whole.
 */
export async function postgresKillRows(plan: Plan): Promise<FaultRow[]> {
  const ws = await workspace();
  await shareWithServer(ws);
  const cluster = await startArchivingCluster(ws);
  try {
    await seedApp(cluster, "shop", plan.quick ? 3_000 : 20_000);
    const live = clusterQuery(cluster, "shop");
    const expected = await checksums(live);
    const logical = proveLogical(cluster, () => expected);
    const physical = provePhysical("shop", () => expected);
    const prove: Prover = (m, scratch, env) => (m.engine === "postgres-physical" ? physical : logical)(m, scratch, env);
    const ledger: Ledger = { env: ws.env, scratch: ws.dir, prove, known: new Set(), proven: new Set() };
    const kinds = [
      { fault: "kill -9 during backup (PostgreSQL logical)", args: ["backup", cluster.url("shop")] },
      { fault: "kill -9 during backup (PostgreSQL physical)", args: ["backup", "--type", "physical", cluster.url()] },
    ];
    const rows: FaultRow[] = [];
    for (const kind of kinds) {
      const calibration = await runBounded(kind.args, ws.env);
      if (calibration.code !== 0) throw new Error(`${kind.args.join(" ")} failed (${calibration.code}): ${failureText(calibration)}`);
      const setup = await checkRepository(ledger);
      rows.push(
        await runRow(kind.fault, plan.trials, plan, async (n) => {
          const kill = await killAfter(kind.args, ws.env, plan.rng.next() * calibration.ms);
          const problems = kill.survivors.map((s) => `${s} outlived the killed command`);
          const now = await checksums(live);
          const damaged = now !== expected;
          if (damaged) problems.push(`live database changed: ${now} vs ${expected}`);
          const repo = await checkRepository(ledger);
          const retry = await runBounded(kind.args, ws.env);
          if (retry.code !== 0) problems.push(`the same backup afterwards failed (${retry.code}): ${failureText(retry)}`);
          const after = await checkRepository(ledger, new Set(), { full: n === plan.trials });
          return outcome([...problems, ...repo.problems, ...after.problems], repo.lostOrCorrupt + after.lostOrCorrupt, damaged ? 1 : 0);
        }, setup),
      );
    }
    return rows;
  } finally {
    await cluster.destroy();
    await ws.cleanup();
  }
}
