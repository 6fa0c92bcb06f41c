import type { OwnMigrations } from "./upgrade-runner-holdfast.js";
import type { UpgradeTarget } from "./upgrade-target.js";

/** What the round trip found: every version it went through, and the first difference (if any). */
export interface RoundTripOutcome {
  /** One line a version: "0002 up, down, up" or "0003 up (no down migration)". */
  versions: string[];
  /** "version 0003: down does not give back the schema of 0002: …", or undefined when all agreed. */
  difference?: string;
}

/**
 * upgrade-test's second rehearsal, on a scratch copy of its own: the chain applied one version at
 * a time (not in one run), and at each version that has a down migration: down one step, the
 * schema compared with the version before's; up again, the schema compared with the first up's.
 * At the end the schema must equal the one the direct run ended with (`directSchema`). Stops at
 * the first difference and names the version; a migration that fails throws.
 */
export async function roundTrip(target: UpgradeTarget, own: OwnMigrations, directSchema: string | undefined, signal?: AbortSignal): Promise<RoundTripOutcome> {
  // The history table first: the schema recorded before the first step must hold it, as every later one does.
  const current = await own.prepare(target);
  const steps = await own.pending(target);
  const out: RoundTripOutcome = { versions: [] };
  let previous = { version: current ?? "none", schema: (await target.state(signal)).schema };
  for (const step of steps) {
    signal?.throwIfAborted();
    const label = step.version.padStart(4, "0");
    await own.up(target, step.version);
    const afterUp = (await target.state(signal)).schema;
    if (!step.reversible) {
      out.versions.push(`${label} up (no down migration)`);
      previous = { version: step.version, schema: afterUp };
      continue;
    }
    await own.down(target, previous.version === "none" ? undefined : previous.version);
    const afterDown = (await target.state(signal)).schema;
    const downDiff = schemaDifference(previous.schema, afterDown);
    if (downDiff) return { ...out, difference: `version ${label}: down does not give back the schema of ${previous.version === "none" ? "the database before" : previous.version.padStart(4, "0")}: ${downDiff}` };
    await own.up(target, step.version);
    const again = (await target.state(signal)).schema;
    const upDiff = schemaDifference(afterUp, again);
    if (upDiff) return { ...out, difference: `version ${label}: up → down → up gives another schema than up: ${upDiff}` };
    out.versions.push(`${label} up, down, up`);
    previous = { version: step.version, schema: again };
  }
  if (directSchema !== undefined) {
    const diff = schemaDifference(directSchema, previous.schema);
    if (diff) out.difference = `step by step to ${previous.version.padStart(4, "0")} ends at another schema than the chain run directly: ${diff}`;
  }
  return out;
}

/**
 * The lines one schema dump has and the other has not (as sets: the order pg_dump chose does not
 * count), at most three each; undefined when equal.
 */
export function schemaDifference(expected: string, actual: string): string | undefined {
  if (expected === actual) return undefined;
  const a = expected.split("\n").map((l) => l.trim());
  const b = actual.split("\n").map((l) => l.trim());
  const inA = new Set(a);
  const inB = new Set(b);
  const missing = a.filter((l) => !inB.has(l));
  const extra = b.filter((l) => !inA.has(l));
  const show = (lines: string[]) => lines.slice(0, 3).map((l) => `"${l}"`).join(", ") + (lines.length > 3 ? ` and ${lines.length - 3} more` : "");
  const parts = [missing.length ? `missing ${show(missing)}` : "", extra.length ? `extra ${show(extra)}` : ""].filter(Boolean);
  return parts.length ? parts.join("; ") : "the same lines in another order";
}
