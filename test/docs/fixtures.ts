import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import { createDatabase, dumpTable, integrity } from "../support/sqlite.js";
import type { RecipeParts } from "./parts.js";
import type { RecipeRunOptions } from "./recipes.js";
import { postgresFixtures } from "./postgres-fixtures.js";
import { describeTree, makeTree } from "../files/tree.js";

/**
 * One fixture per "Restore by hand" section of docs/: it makes what the recipe starts from (a
 * real backup, a folder holding identity.txt, the documented variables) and proves afterwards
 * that the recipe restored what the source held.
 */
export interface RecipeFixture {
  /** The section it runs: file under docs/ and heading, exactly as written there. */
  doc: string;
  heading: string;
  prepare(parts: RecipeParts): Promise<PreparedRecipe>;
}

export interface PreparedRecipe extends RecipeRunOptions {
  check(): Promise<void>;
  cleanup?(): Promise<void>;
}

const DOC = "repository-format.md";

/** The secret line of an identity file (comments aside). */
async function secretOf(path: string): Promise<string> {
  return (await readFile(path, "utf8")).split("\n").filter((l) => l.startsWith("AGE-SECRET-KEY-1")).join("\n");
}

async function expectPrivateIdentity(path: string, parts: RecipeParts): Promise<void> {
  expect((await stat(path)).mode & 0o777).toBe(0o600);
  const secret = await secretOf(path);
  expect(secret).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]+$/);
  expect(secret).toBe(await secretOf(parts.identity));
}

const keyFixtures: RecipeFixture[] = [
  {
    doc: DOC,
    heading: "Restore by hand: the repository key",
    async prepare(parts) {
      const cwd = await parts.folder("key", { identity: false });
      return {
        cwd,
        env: { PATH: parts.path, REPO: parts.ws.repo, HOLDFAST_PASSPHRASE_FILE: parts.ws.passphraseFile },
        check: () => expectPrivateIdentity(join(cwd, "identity.txt"), parts),
      };
    },
  },
  {
    doc: DOC,
    heading: "Restore by hand: the repository key with age alone",
    async prepare(parts) {
      const cwd = await parts.folder("key-age", { identity: false });
      return {
        cwd,
        env: { PATH: parts.path, REPO: parts.ws.repo },
        typed: { prompt: /passphrase/i, text: parts.passphrase },
        check: () => expectPrivateIdentity(join(cwd, "identity.txt"), parts),
      };
    },
  },
];

const sqliteFixture: RecipeFixture = {
  doc: DOC,
  heading: "Restore by hand: SQLite",
  async prepare(parts) {
    const source = join(parts.ws.dir, "app.db");
    createDatabase(source, 600);
    const backup = await parts.backup([`sqlite:${source}`]);
    const cwd = await parts.folder("sqlite");
    return {
      cwd,
      env: { PATH: parts.path, REPO: parts.ws.repo, BACKUP_ID: backup.id },
      async check() {
        const restored = join(cwd, "restored.db");
        expect(integrity(restored)).toBe("ok");
        for (const table of ["items", "tags"]) expect(dumpTable(restored, table)).toEqual(dumpTable(source, table));
      },
    };
  },
};

const filesFixture: RecipeFixture = {
  doc: "files.md",
  heading: "Restore by hand",
  async prepare(parts) {
    const source = join(parts.ws.dir, "etc-myapp");
    await makeTree(source);
    const backup = await parts.backup([`files:${source}`]);
    const cwd = await parts.folder("files", { identity: false });
    const target = join(parts.ws.dir, "files-restored-by-hand");
    return {
      cwd,
      env: { PATH: parts.path, REPO: parts.ws.repo, BACKUP_ID: backup.id, TARGET: target, HOLDFAST_PASSPHRASE_FILE: parts.ws.passphraseFile },
      async check() {
        await expectPrivateIdentity(join(cwd, "identity.txt"), parts);
        // content, modes, mtimes, symlinks and long names, as tar -x gives them back
        expect(await describeTree(target)).toEqual(await describeTree(source));
      },
    };
  },
};

/** Every recipe the docs hold. A new kind of source adds its section to docs/ and one entry here. */
export const FIXTURES: RecipeFixture[] = [...keyFixtures, sqliteFixture, ...postgresFixtures, filesFixture];
