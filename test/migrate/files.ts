import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, type RunResult } from "../support/cli.js";

/** Write migration files (name → text) into a fresh folder under base; returns the folder. */
export async function migrationsFolder(base: string, name: string, files: Record<string, string>): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

/** holdfast migrate <args…> --json, parsed; fails the test with stderr when it exits non-zero. */
export async function migrateJson<T = Record<string, unknown>>(args: string[], env: Record<string, string | undefined> = {}): Promise<T> {
  const r = await runCli(["migrate", ...args, "--json"], { env });
  if (r.code !== 0) throw new Error(`migrate ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export function migrate(args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  return runCli(["migrate", ...args], { env });
}
