// The full fault suite: `npm run faults` (builds first). Prints the table and the reproduction of
// every failing row, and rewrites the generated section of docs/reliability.md.
//   HOLDFAST_FAULT_SEED=<n>      replay a run (the seed is printed first)
//   HOLDFAST_FAULT_TRIALS=<n>    kill -9 trials per command (default 20; the other families scale)
//   HOLDFAST_FAULT_ONLY=a,b      only these families (kill-sqlite, kill-postgres, kill-wal, kill-repo,
//                                corruption, storage, pairs, config, secrets); the docs are then left alone
import { resolve } from "node:path";
import { renderFailures, renderTable, writeReliabilitySection } from "./report.js";
import { seedFromEnv } from "./seed.js";
import { onlyFromEnv, runSuite, trialsFromEnv } from "./suite.js";

const out = (line: string): boolean => process.stdout.write(`${line}\n`);
const seed = seedFromEnv();
const trials = trialsFromEnv(20);
const only = onlyFromEnv();
out(`fault suite: seed ${seed} (replay with HOLDFAST_FAULT_SEED=${seed}), ${trials.kill} kill -9 trials per command`);
const started = Date.now();
const rows = await runSuite({ seed, trials, quick: false, only, log: (line) => out(`  ${line}`) });
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
const table = renderTable(rows);
const failures = renderFailures(rows);
out(`\n${table}\n`);
if (failures) out(`Failing rows (seed ${seed}):\n${failures}\n`);
if (!only) {
  const when = new Date().toISOString().slice(0, 10);
  const section = [
    `Last full run: ${when}, seed ${seed}, ${trials.kill} kill -9 trials per command, ${minutes} min on 2 cores.`,
    "",
    table,
    "",
    failures ? `Failures of that run (replay with \`HOLDFAST_FAULT_SEED=${seed} npm run faults\`):\n\n${failures}` : "Every row survived every trial.",
  ].join("\n");
  await writeReliabilitySection(resolve(import.meta.dirname, "../../docs/reliability.md"), section);
  out("docs/reliability.md updated");
}
process.exitCode = failures ? 1 : 0;
