import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, workspace } from "../support/cli.js";
import { failureText, oneLineError } from "./cli-run.js";
import type { FaultRow } from "./report.js";
import type { Rng } from "./seed.js";
import { createSource } from "./sqlite-source.js";
import { outcome, runRow, type Plan } from "./trial.js";

/** surelyInvalid: no reading of the file can be a valid config (a cut or junk inside a value may be). */
type Mutation = { kind: "truncation" | "wrong type" | "unknown key" | "invalid YAML" | "binary junk"; text: string | Buffer; what: string; surelyInvalid: boolean };

const WRONG_TYPES: [RegExp, string][] = [
  [/level: 3/, "level: high"],
  [/level: 3/, "level: [1, 2]"],
  [/algorithm: zstd/, "algorithm: 7"],
  [/algorithm: zstd/, "algorithm: lz4"],
  [/env: test/, "env: { nested: true }"],
  [/lock_wait: 30s/, "lock_wait: forever"],
  [/lock_wait: 30s/, "lock_wait: -5"],
  [/level: info/, "level: loud"],
  [/format: json/, "format: 12"],
  [/keep_daily: 7/, "keep_daily: seven"],
  [/keep_daily: 7/, "keep_daily: -3"],
  [/threads: 2/, "threads: 2.5"],
];
const UNKNOWN_KEYS = ["reop: /tmp/elsewhere", "compresion: { level: 3 }", "labels2: {}", "  algoritm: zstd", "  colour: blue", "password: hunter2"];
const BROKEN_YAML = ["compression: { algorithm: zstd", "labels: [a, b", 'repo: "unterminated', "\tlevel: 3", "repo: a: b: c", "- just\n- a list", "compression:\n level: 3\n  threads: 2", "lock_wait: 30s\nlock_wait: 31s"];

function mutate(valid: string, rng: Rng): Mutation {
  const kind = rng.pick(["truncation", "wrong type", "unknown key", "invalid YAML", "binary junk"] as const);
  const lines = valid.split("\n");
  if (kind === "truncation") {
    const at = rng.int(1, valid.length - 1);
    return { kind, text: valid.slice(0, at), what: `cut after ${at} characters`, surelyInvalid: false };
  }
  if (kind === "wrong type") {
    const [from, to] = rng.pick(WRONG_TYPES);
    return { kind, text: valid.replace(from, to), what: to, surelyInvalid: true };
  }
  if (kind === "unknown key") {
    const line = rng.pick(UNKNOWN_KEYS);
    const at = line.startsWith("  ") ? lines.findIndex((l) => l.startsWith("compression:")) + 1 : rng.int(0, lines.length - 1);
    lines.splice(at, 0, line);
    return { kind, text: lines.join("\n"), what: line.trim(), surelyInvalid: true };
  }
  if (kind === "invalid YAML") {
    const line = rng.pick(BROKEN_YAML);
    lines.splice(rng.int(0, lines.length - 1), 0, line);
    return { kind, text: lines.join("\n"), what: JSON.stringify(line), surelyInvalid: true };
  }
  const junk = Buffer.from(Array.from({ length: rng.int(1, 64) }, () => rng.int(0, 255)));
  const bytes = Buffer.from(valid);
  const at = rng.int(0, bytes.length);
  const whole = rng.next() < 0.3;
  if (whole) return { kind, text: junk, what: `the whole file: ${junk.length} random bytes`, surelyInvalid: true };
  // Junk inside a value can be a (strange) valid string: then any clean, one-line refusal will do.
  return { kind, text: Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at)]), what: `${junk.length} random bytes at ${at}`, surelyInvalid: false };
}

/**
 * Bad configuration files: random mutations of a valid holdfast.yaml. Never exit 1, never a stack
 * trace, one error line; a file that is surely invalid (wrong type, unknown key, bad YAML, a file of
 * binary junk) exits 3 (or 2). A truncation or junk inside a value may leave a valid file or name a
 * missing repository: any clean exit.
 */
export async function configFuzzRow(plan: Plan): Promise<FaultRow> {
  const ws = await workspace();
  try {
    const src = createSource(ws.dir, "app", 100);
    const valid = [
      `repo: ${ws.repo}`,
      `passphrase_file: ${ws.passphraseFile}`,
      "compression:",
      "  algorithm: zstd",
      "  level: 3",
      "  threads: 2",
      "labels:",
      "  env: test",
      "log:",
      "  format: json",
      "  level: info",
      `tmp_dir: ${ws.dir}`,
      "lock_wait: 30s",
      "retention:",
      "  keep_daily: 7",
      "  keep_weekly: 4",
      "",
    ].join("\n");
    const config = join(ws.dir, "holdfast.yaml");
    const env = { HOLDFAST_REPO: undefined, HOLDFAST_PASSPHRASE_FILE: undefined, HOLDFAST_TMPDIR: undefined, HOLDFAST_CONFIG: config };
    await writeFile(config, valid);
    const sane = await runCli(["list"], { env });
    if (sane.code !== 0) throw new Error(`the unmutated holdfast.yaml is refused: ${failureText(sane)}`);
    const commands = [["list"], ["verify", "latest"], ["backup", `sqlite:${src}`], ["prune", "--dry-run"], ["status"]];
    return await runRow("bad configuration files (fuzzed holdfast.yaml)", plan.trials, plan, async () => {
      const m = mutate(valid, plan.rng);
      await writeFile(config, m.text);
      const args = plan.rng.pick(commands);
      const r = await runCli(args, { env });
      const problems: string[] = [];
      const label = `${m.kind} (${m.what}), \`holdfast ${args.join(" ")}\``;
      if (r.code === 1 || r.code >= 128) problems.push(`${label}: exit ${r.code}: ${failureText(r)}`);
      if (r.code !== 0) {
        const { problem } = oneLineError(r);
        if (problem) problems.push(`${label}: ${problem}`);
      }
      const surelyInvalid = m.surelyInvalid;
      const refused = r.code === 2 || r.code === 3;
      if (surelyInvalid && !refused && r.code !== 1) problems.push(`${label}: exit ${r.code} instead of 3${r.code === 0 ? " (accepted)" : `: ${failureText(r)}`}`);
      return outcome(problems, 0, 0, surelyInvalid ? refused : undefined);
    });
  } finally {
    await ws.cleanup();
  }
}
