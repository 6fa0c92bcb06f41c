import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The executable side of docs/: a "recipe" is a markdown section whose heading says
 * "restore by hand" (any case); its shell blocks (```sh / ```bash) are the recipe, in document
 * order. Everything here is plain text handling and a real bash: no part of Holdfast is used.
 */
export interface ShellBlock {
  /** 1-based line in the markdown file of the block's first line of code. */
  line: number;
  code: string;
}

export interface RecipeSection {
  /** File name under docs/, e.g. "repository-format.md". */
  doc: string;
  heading: string;
  /** 1-based line of the heading. */
  line: number;
  blocks: ShellBlock[];
}

const RECIPE_HEADING = /restore by hand/i;
const SHELL_FENCE = /^(sh|bash)(\s|$)/;

/**
 * Recipe sections of one markdown text. A section runs from its heading to the next heading of the
 * same or a higher level; fenced code is never read as headings.
 */
export function extractRecipes(markdown: string, doc: string): RecipeSection[] {
  const sections: (RecipeSection & { level: number })[] = [];
  let current: (RecipeSection & { level: number }) | undefined;
  let fence: { marker: string; shell: boolean; start: number; lines: string[] } | undefined;
  const lines = markdown.split("\n");
  lines.forEach((text, i) => {
    if (fence) {
      if (text.trim() === fence.marker) {
        if (fence.shell && current) current.blocks.push({ line: fence.start, code: fence.lines.join("\n") });
        fence = undefined;
      } else fence.lines.push(text);
      return;
    }
    const open = /^\s*(`{3,}|~{3,})\s*(.*)$/.exec(text);
    if (open) {
      fence = { marker: open[1]!, shell: SHELL_FENCE.test(open[2]!), start: i + 2, lines: [] };
      return;
    }
    const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) return;
    const level = heading[1]!.length;
    if (current && level <= current.level) current = undefined;
    if (!current && RECIPE_HEADING.test(heading[2]!)) {
      current = { doc, heading: heading[2]!, line: i + 1, blocks: [], level };
      sections.push(current);
    }
  });
  if (fence) throw new Error(`${doc}: the code block opened at line ${fence.start - 1} is never closed`);
  return sections.map(({ level: _level, ...s }) => s);
}

/** Every recipe section of every docs/*.md, files in name order (synchronous: read while tests are collected). */
export function docsRecipes(docsDir: string): RecipeSection[] {
  const files = readdirSync(docsDir).filter((f) => f.endsWith(".md")).sort();
  return files.flatMap((f) => extractRecipes(readFileSync(join(docsDir, f), "utf8"), f));
}

export function recipeKey(s: { doc: string; heading: string }): string {
  return `${s.doc}: ${s.heading}`;
}

/**
 * Sections and fixtures must match one to one: a recipe nobody runs, or a fixture whose section
 * was deleted or renamed, is an error naming each of them. An empty recipe is an error too.
 */
export function pairRecipes<F extends { doc: string; heading: string }>(sections: RecipeSection[], fixtures: F[]): { section: RecipeSection; fixture: F }[] {
  const problems: string[] = [];
  const byKey = new Map(fixtures.map((f) => [recipeKey(f), f]));
  const seen = new Set<string>();
  const pairs: { section: RecipeSection; fixture: F }[] = [];
  for (const section of sections) {
    const key = recipeKey(section);
    if (seen.has(key)) problems.push(`two sections are named "${key}"`);
    seen.add(key);
    const fixture = byKey.get(key);
    if (!fixture) problems.push(`"${key}" (line ${section.line}) has no fixture in test/docs/`);
    else if (section.blocks.length === 0) problems.push(`"${key}" (line ${section.line}) has no sh or bash block`);
    else pairs.push({ section, fixture });
  }
  for (const key of byKey.keys()) if (!seen.has(key)) problems.push(`the recipe section "${key}" is missing from docs/`);
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return pairs;
}

export interface RecipeRunOptions {
  cwd: string;
  /** The documented variables; the recipe sees these, PATH, HOME and nothing else of ours. */
  env: Record<string, string>;
  /** Run as this OS user (runuser, when root). */
  user?: string;
  /** Runs inside a pseudo-terminal (script(1)); this line is typed when a prompt for it appears. */
  typed?: { prompt: RegExp; text: string };
  timeoutMs?: number;
}

/**
 * One bash -euo pipefail process runs the section's blocks one after another (as one terminal
 * would: cd, variables and umask carry over). A failing step rejects with the markdown line of
 * the command that failed, the exit status and the end of the output.
 */
export async function runRecipe(section: RecipeSection, options: RecipeRunOptions): Promise<{ output: string }> {
  const lineMap: number[] = [0];
  const script: string[] = ['trap \'echo "@@failed-at $LINENO" >&2\' ERR'];
  lineMap.push(0);
  for (const block of section.blocks) {
    block.code.split("\n").forEach((text, i) => {
      script.push(text);
      lineMap.push(block.line + i);
    });
  }
  const dir = await mkdtemp(join(tmpdir(), "holdfast-recipe-"));
  try {
    await chmod(dir, 0o755);
    const file = join(dir, "recipe.sh");
    await writeFile(file, script.join("\n") + "\n", { mode: 0o644 });
    const vars = Object.entries({ HOME: options.cwd, ...options.env }).map(([k, v]) => `${k}=${v}`);
    const bash = `bash -euo pipefail ${file}`;
    let argv = options.typed ? ["script", "-qec", bash, "/dev/null"] : ["bash", "-euo", "pipefail", file];
    argv = ["/usr/bin/env", "-i", ...vars, "SHELL=/bin/bash", ...argv];
    if (options.user && process.getuid?.() === 0) argv = ["runuser", "-u", options.user, "--", ...argv];
    const { code, output } = await run(argv, options);
    if (code === 0) return { output };
    const failed = /@@failed-at (\d+)/.exec(output);
    const line = failed ? lineMap[Number(failed[1])] : undefined;
    const tail = output.replace(/@@failed-at \d+\r?\n?/g, "").trim().split("\n").slice(-15).join("\n");
    throw new Error(`docs/${section.doc}: "${section.heading}" failed (exit ${code})${line ? ` at line ${line}: ${script[Number(failed![1]) - 1]!.trim()}` : ""}\n${tail}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(argv: string[], options: RecipeRunOptions): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"], detached: true });
    let output = "";
    let typed = false;
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (options.typed && !typed && options.typed.prompt.test(output)) {
        typed = true;
        child.stdin.write(`${options.typed.text}\n`);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    if (!options.typed) child.stdin.end();
    const timer = setTimeout(() => {
      output += `\n(stopped after ${options.timeoutMs ?? 60_000} ms)`;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}
