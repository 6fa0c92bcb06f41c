import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const DIR = resolve(import.meta.dirname, "../../deploy/prometheus");

describe("deploy/prometheus/holdfast-rules.yml", () => {
  it("passes promtool check and every rule's unit test", async () => {
    const check = await run("promtool", ["check", "rules", "holdfast-rules.yml"], { cwd: DIR });
    expect(check.stdout).toContain("SUCCESS: 13 rules found");
    const test = await run("promtool", ["test", "rules", "holdfast-rules.test.yml"], { cwd: DIR });
    expect(test.stdout).toContain("SUCCESS");
  });

  it("tests every alert it defines, and uses only metrics the daemon exports", async () => {
    const rules = await readFile(resolve(DIR, "holdfast-rules.yml"), "utf8");
    const tests = await readFile(resolve(DIR, "holdfast-rules.test.yml"), "utf8");
    const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    expect(alerts).toEqual([
      "HoldfastBackupTooOld",
      "HoldfastBackupStale",
      "HoldfastBackupFailed",
      "HoldfastExportFailed",
      "HoldfastVerifyFailed",
      "HoldfastRepositoryLowSpace",
      "HoldfastWalArchiveLag",
      "HoldfastBackupSizeAnomaly",
      "HoldfastDrillFailed",
      "HoldfastDrillRtoOverTarget",
      "HoldfastDrillRpoOverTarget",
      "HoldfastVerificationOverdue",
      "HoldfastOffsiteCopyFailing",
    ]);
    // A firing case for each; promtool matches alerts exactly, so the other series of a case must stay quiet.
    for (const a of alerts) expect(tests).toMatch(new RegExp(`alertname: ${a}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
    const exported = new Set([...(await readFile(resolve(import.meta.dirname, "../../src/daemon/metrics.ts"), "utf8")).matchAll(/name: "(holdfast_\w+)"/g)].map((m) => m[1]));
    const used = [...rules.matchAll(/\b(holdfast_\w+)/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(exported, name).toContain(name);
  });
});
