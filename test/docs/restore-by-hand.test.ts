/**
 * The docs are executable: every section of docs/*.md whose heading says "restore by hand" (any
 * case) is a recipe, and its ```sh / ```bash blocks are run, in document order, in one
 * `bash -euo pipefail` — the way a user follows them — against a real repository made by the
 * real CLI, a real SQLite file and a real PostgreSQL cluster (as PostgreSQL's OS user where the
 * docs say so). After each recipe its fixture checks that the restored content equals the source.
 *
 * Sections and fixtures (test/docs/fixtures.ts) match one to one by file and heading: a section
 * without a fixture, a fixture whose section was deleted or renamed, or a section without a shell
 * block fails the suite.
 *
 * Adding a recipe for a new kind of source (e.g. a "Restore by hand" section in docs/files.md):
 * write one RecipeFixture — { doc: "files.md", heading: "<the heading>", prepare } where prepare
 * takes a backup with parts.backup([...]), gets a folder holding identity.txt with
 * parts.folder(name), and returns the documented variables plus a check() — and add it to
 * FIXTURES. Nothing else changes.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES } from "./fixtures.js";
import { recipeParts, type RecipeParts } from "./parts.js";
import { docsRecipes, extractRecipes, pairRecipes, recipeKey, runRecipe } from "./recipes.js";

const DOCS = resolve(import.meta.dirname, "../../docs");

describe("the recipe runner", () => {
  const sample = [
    "# Guide",
    "```sh",
    "echo not a recipe",
    "```",
    "## Restore by hand: widgets",
    "Text.",
    "```sh",
    "echo one > out.txt",
    "```",
    "```json",
    '{ "not": "shell" }',
    "```",
    "```bash",
    "# a heading inside code is not a heading",
    "cat out.txt",
    "```",
    "### Details stay in the section",
    "```sh",
    "echo three",
    "```",
    "## Something else",
    "```sh",
    "echo outside",
    "```",
  ].join("\n");

  it("extracts the sh and bash blocks of each 'restore by hand' section, in order, with their lines", () => {
    const sections = extractRecipes(sample, "guide.md");
    expect(sections.map((s) => [s.heading, s.line])).toEqual([["Restore by hand: widgets", 5]]);
    expect(sections[0]!.blocks).toEqual([
      { line: 8, code: "echo one > out.txt" },
      { line: 14, code: "# a heading inside code is not a heading\ncat out.txt" },
      { line: 19, code: "echo three" },
    ]);
  });

  it("runs the blocks in one shell and fails on a broken step, naming its line in the markdown", async () => {
    const [section] = extractRecipes(sample, "guide.md");
    const dir = await mkdtemp(join(tmpdir(), "holdfast-runner-"));
    try {
      expect((await runRecipe(section!, { cwd: dir, env: { PATH: process.env.PATH! } })).output).toBe("one\nthree\n");
      const broken = extractRecipes(sample.replace("cat out.txt", "cat missing.txt"), "guide.md")[0]!;
      await expect(runRecipe(broken, { cwd: dir, env: { PATH: process.env.PATH! } })).rejects.toThrow(/guide\.md: "Restore by hand: widgets" failed \(exit 1\) at line 15: cat missing\.txt/);
      // pipefail and nounset: a failing stage of a pipeline and an unset variable stop the recipe.
      const piped = extractRecipes(sample.replace("cat out.txt", "false | cat"), "guide.md")[0]!;
      await expect(runRecipe(piped, { cwd: dir, env: { PATH: process.env.PATH! } })).rejects.toThrow(/at line 15: false \| cat/);
      const unset = extractRecipes(sample.replace("cat out.txt", 'echo "$UNDOCUMENTED"'), "guide.md")[0]!;
      await expect(runRecipe(unset, { cwd: dir, env: { PATH: process.env.PATH! } })).rejects.toThrow(/UNDOCUMENTED: unbound variable/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a deleted or renamed recipe section, a section without a fixture, and an empty one", () => {
    const sections = extractRecipes(sample, "guide.md");
    const fixture = { doc: "guide.md", heading: "Restore by hand: widgets" };
    expect(pairRecipes(sections, [fixture])).toHaveLength(1);
    expect(() => pairRecipes([], [fixture])).toThrow('the recipe section "guide.md: Restore by hand: widgets" is missing from docs/');
    expect(() => pairRecipes(sections, [])).toThrow('"guide.md: Restore by hand: widgets" (line 5) has no fixture');
    const empty = extractRecipes("## Restore by hand: nothing\nJust words.\n", "guide.md");
    expect(() => pairRecipes(empty, [{ doc: "guide.md", heading: "Restore by hand: nothing" }])).toThrow("has no sh or bash block");
  });
});

describe("docs: restore by hand, followed literally", () => {
  const sections = docsRecipes(DOCS); // read at collection time: each recipe is a test of its own
  let parts: RecipeParts;
  beforeAll(async () => {
    parts = await recipeParts();
  });
  afterAll(async () => {
    await parts?.close();
  });

  it("every recipe section of docs/ has its fixture, and every fixture its section", () => {
    expect(pairRecipes(sections, FIXTURES).map(({ section }) => recipeKey(section))).toEqual(sections.map(recipeKey));
  });

  for (const section of sections) {
    it(recipeKey(section), async () => {
      const fixture = FIXTURES.find((f) => recipeKey(f) === recipeKey(section));
      if (!fixture) throw new Error(`"${recipeKey(section)}" has no fixture in test/docs/fixtures.ts`);
      const prepared = await fixture.prepare(parts);
      try {
        await runRecipe(section, prepared);
        await prepared.check();
      } finally {
        await prepared.cleanup?.();
      }
    });
  }
});
