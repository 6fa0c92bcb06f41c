import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { HoldfastError } from "../errors.js";
import { checksumOf, normaliseText } from "./checksum.js";

/** One migration from the folder, as data. */
export interface Migration {
  version: number;
  name: string;
  /** The up text (normalised: LF line ends, no trailing whitespace). */
  up: string;
  down?: string;
  /** checksumOf(up) with the current algorithm. */
  checksum: string;
  /** Files it was read from, relative to the folder. */
  files: string[];
  /** Marked `-- holdfast:no-transaction`: statements run one by one, outside a transaction. */
  noTransaction: boolean;
  /** `-- holdfast:requires 0005`: versions that must be applied (not skipped) before this one. */
  requires: number[];
}

export interface LoadOptions {
  /** Timestamp-style versions: a gap between versions is not an error. */
  allowGaps?: boolean;
}

const FILE_NAME = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_.-]*?)(?:\.(up|down))?\.sql$/;

/**
 * Read a folder of migrations: `0003_add_teams.up.sql` + `0003_add_teams.down.sql`, or one
 * `0003_add_teams.sql` with `-- migrate:up` / `-- migrate:down` sections (without markers the whole
 * file is the up migration). Versions sort numerically. A duplicate version, a gap (unless
 * allowGaps), a .sql file not named NNNN_name, or a down without its up is a CONFIG_INVALID error
 * naming the files.
 */
export async function loadMigrations(dir: string, options: LoadOptions = {}): Promise<Migration[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && e.name.endsWith(".sql")).map((e) => e.name).sort();
  } catch {
    throw new HoldfastError("CONFIG_INVALID", `cannot read the migrations folder ${dir}`, { hint: "give --dir <folder>, or migrations: for this database in holdfast.yaml" });
  }
  const byVersion = new Map<number, { name: string; files: Record<"single" | "up" | "down", string | undefined> }>();
  for (const file of names) {
    const m = FILE_NAME.exec(file);
    if (!m) throw new HoldfastError("CONFIG_INVALID", `${join(dir, file)}: a migration file is named NNNN_name.sql, NNNN_name.up.sql or NNNN_name.down.sql`);
    const version = Number(m[1]);
    if (!Number.isSafeInteger(version)) throw new HoldfastError("CONFIG_INVALID", `${join(dir, file)}: version ${m[1]} is too large`);
    const entry = byVersion.get(version) ?? { name: m[2]!, files: { single: undefined, up: undefined, down: undefined } };
    const slot = (m[3] ?? "single") as "single" | "up" | "down";
    if (entry.name !== m[2] || entry.files[slot] !== undefined || (slot === "single" && (entry.files.up || entry.files.down)) || (slot !== "single" && entry.files.single)) {
      const other = Object.values(entry.files).find((f) => f !== undefined) ?? "";
      throw new HoldfastError("CONFIG_INVALID", `duplicate migration version ${version} in ${dir}: ${other} and ${file}`, { hint: "give each migration its own version number" });
    }
    entry.files[slot] = file;
    byVersion.set(version, entry);
  }
  const migrations: Migration[] = [];
  for (const [version, entry] of [...byVersion].sort((a, b) => a[0] - b[0])) {
    migrations.push(await readMigration(dir, version, entry.name, entry.files));
  }
  if (!options.allowGaps) {
    for (let i = 1; i < migrations.length; i++) {
      const [prev, cur] = [migrations[i - 1]!, migrations[i]!];
      if (cur.version !== prev.version + 1) {
        throw new HoldfastError("CONFIG_INVALID", `gap in the migrations of ${dir}: ${cur.files[0]} follows version ${prev.version}`, { hint: "number migrations without gaps, or pass --allow-gaps for timestamp versions" });
      }
    }
  }
  return migrations;
}

async function readMigration(dir: string, version: number, name: string, files: Record<"single" | "up" | "down", string | undefined>): Promise<Migration> {
  let up: string;
  let down: string | undefined;
  if (files.single) {
    ({ up, down } = sections(await readFile(join(dir, files.single), "utf8"), join(dir, files.single)));
  } else {
    if (!files.up) throw new HoldfastError("CONFIG_INVALID", `${join(dir, files.down!)} has no ${files.down!.replace(/\.down\.sql$/, ".up.sql")} beside it`);
    up = await readFile(join(dir, files.up), "utf8");
    down = files.down ? await readFile(join(dir, files.down), "utf8") : undefined;
  }
  up = normaliseText(up);
  down = down === undefined ? undefined : normaliseText(down);
  if (down !== undefined && down.trim() === "") down = undefined;
  return {
    version,
    name,
    up,
    down,
    checksum: checksumOf(up),
    files: [files.single, files.up, files.down].filter((f): f is string => f !== undefined),
    noTransaction: /^\s*--\s*holdfast:no-transaction\b/im.test(up),
    requires: [...up.matchAll(/^\s*--\s*holdfast:requires\s+([\d ,]+)/gim)].flatMap((m) => m[1]!.split(/[\s,]+/).filter(Boolean).map(Number)),
  };
}

function sections(text: string, where: string): { up: string; down?: string } {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const upAt = lines.findIndex((l) => /^\s*--\s*migrate:up\b/i.test(l));
  const downAt = lines.findIndex((l) => /^\s*--\s*migrate:down\b/i.test(l));
  if (upAt < 0 && downAt < 0) return { up: text };
  if (upAt < 0) throw new HoldfastError("CONFIG_INVALID", `${where}: a -- migrate:down section without -- migrate:up`);
  if (downAt >= 0 && downAt < upAt) throw new HoldfastError("CONFIG_INVALID", `${where}: -- migrate:down comes before -- migrate:up`);
  const up = lines.slice(upAt + 1, downAt < 0 ? undefined : downAt).join("\n");
  return { up, down: downAt < 0 ? undefined : lines.slice(downAt + 1).join("\n") };
}
