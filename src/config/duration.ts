import { HoldfastError } from "../errors.js";

export const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`bad duration ${text}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** A duration given on the command line or in the environment; a bad one is a usage error. */
export function parseDurationFlag(text: string, flag: string, examples: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new HoldfastError("USAGE", `${flag} expects a duration such as ${examples}, got "${text}"`);
  }
}
