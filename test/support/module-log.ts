import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { collect } from "./process.js";

/**
 * Runs node with a module hook that records every module URL it loads (ESM imports, and the entry
 * of each package an ESM module imports) to a file: a test can then say what a command loaded
 * without timing anything.
 */
export interface ModuleLog {
  /** node <args>, with the hook; stdout and stderr kept. */
  node(args: string[], env?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The URLs loaded since the last reset. */
  loaded(): Promise<string[]>;
  reset(): Promise<void>;
}

export async function moduleLog(dir: string): Promise<ModuleLog> {
  const log = join(dir, "loaded-modules.txt");
  const hooks = join(dir, "module-hooks.mjs");
  await writeFile(
    hooks,
    `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(log)}, url + "\\n");
  return next(url, context);
}`,
  );
  const register = join(dir, "module-register.mjs");
  await writeFile(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  await writeFile(log, "");
  return {
    node: (args, env = {}) => collect(process.execPath, ["--import", register, ...args], { env: { ...process.env, ...env } }),
    loaded: async () => (await readFile(log, "utf8").catch(() => "")).split("\n").filter(Boolean),
    reset: () => writeFile(log, ""),
  };
}

/** The packages among loaded URLs: "zod", "@aws-sdk/client-s3", … (each once). */
export function packagesOf(urls: string[]): string[] {
  const names = new Set<string>();
  for (const url of urls) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) names.add(m[1]!);
  }
  return [...names].sort();
}
