import { randomBytes } from "node:crypto";
import { cp, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, workspace, type RunResult } from "../support/cli.js";
import { failureText, oneLine, type Env } from "./cli-run.js";
import { listBackups } from "./repo-check.js";
import type { FaultRow } from "./report.js";
import type { Rng } from "./seed.js";
import { createSource } from "./sqlite-source.js";
import { outcome, runRow, type Plan } from "./trial.js";

const WAL = "000000010000000000000001";

interface Kind {
  fault: string;
  /** Key of the damaged file in the repository. */
  key(id: string): string;
  /** The command that must notice, run against the damaged copy. */
  detect(id: string, scratch: string): string[];
}

const KINDS: Kind[] = [
  { fault: "backup data file", key: (id) => dataKey(id), detect: (id) => ["verify", id] },
  { fault: "manifest", key: (id) => `backups/${id}/manifest.json`, detect: () => ["verify", "--all"] },
  { fault: "WAL segment data", key: () => walData, detect: (_id, s) => ["wal-fetch", WAL, join(s, "seg"), "--prefetch", "0"] },
  { fault: "WAL record (.json)", key: () => `wal/00000001/${WAL}.json`, detect: (_id, s) => ["wal-fetch", WAL, join(s, "seg"), "--prefetch", "0"] },
  { fault: "key file", key: () => "keys/repository.key.age", detect: (id) => ["verify", id] },
  { fault: "holdfast.json", key: () => "holdfast.json", detect: () => ["list"] },
];

let dataKeys = new Map<string, string>();
/** The WAL file's data, as its record names it (each push writes under a name of its own). */
let walData = "";
const dataKey = (id: string): string => dataKeys.get(id)!;

/** Flip one byte (XOR with a random non-zero value) or cut the file short, at a random place. */
async function damage(path: string, how: "flip" | "truncate", rng: Rng): Promise<string> {
  const size = (await stat(path)).size;
  if (how === "truncate") {
    const to = rng.int(0, size - 1);
    await truncate(path, to);
    return `truncated to ${to} of ${size} bytes`;
  }
  const bytes = await readFile(path);
  const at = rng.int(0, size - 1);
  const mask = rng.int(1, 255);
  bytes[at] = bytes[at]! ^ mask;
  await writeFile(path, bytes);
  return `byte ${at} of ${size} XOR 0x${mask.toString(16)}`;
}

/** Named = the damaged file's key or path is in the error line or in a line of the report. */
function names(result: RunResult, key: string, path: string): boolean {
  const text = `${result.stderr.split("\n").filter((l) => l.startsWith("holdfast: ")).join("\n")}\n${result.stdout}`;
  return text.includes(key) || text.includes(path);
}

/**
 * One flipped byte and one truncation (alternating, at random places) in every kind of stored file,
 * each in a fresh copy of a healthy repository. Detected = the relevant command exits non-zero and
 * names the damaged file. A restore that succeeds from damaged data counts as a corrupt backup.
 */
export async function corruptionRows(plan: Plan): Promise<FaultRow[]> {
  const ws = await workspace();
  try {
    const src = createSource(ws.dir, "app", 2_000);
    const b = await runCli(["backup", `sqlite:${src}`], { env: ws.env });
    if (b.code !== 0) throw new Error(`backup failed: ${failureText(b)}`);
    await writeFile(join(ws.dir, WAL), randomBytes(16 * 1024 * 1024));
    const push = await runCli(["wal-push", join(ws.dir, WAL)], { env: ws.env });
    if (push.code !== 0) throw new Error(`wal-push failed: ${failureText(push)}`);
    const [m] = await listBackups(ws.env);
    dataKeys = new Map([[m!.id, m!.files[0]!.key]]);
    walData = (JSON.parse(await readFile(join(ws.repo, "wal", "00000001", `${WAL}.json`), "utf8")) as { file: { key: string } }).file.key;
    const rows: FaultRow[] = [];
    for (const kind of KINDS) {
      rows.push(
        await runRow(`corruption: ${kind.fault}`, plan.trials, plan, async (n) => {
          const copy = join(ws.dir, `copy-${n}`);
          await rm(copy, { recursive: true, force: true });
          await cp(ws.repo, copy, { recursive: true });
          try {
            const key = kind.key(m!.id);
            const path = join(copy, key);
            const how = await damage(path, n % 2 === 1 ? "flip" : "truncate", plan.rng);
            const env: Env = { ...ws.env, HOLDFAST_REPO: copy };
            const args = kind.detect(m!.id, ws.dir);
            const r = await runCli(args, { env });
            await rm(join(ws.dir, "seg"), { force: true });
            const problems: string[] = [];
            let lost = 0;
            const detected = r.code !== 0 && names(r, key, path);
            if (r.code === 0) problems.push(`${key} ${how}: \`${args.join(" ")}\` exit 0`);
            else if (!detected) problems.push(`${key} ${how}: \`${args.join(" ")}\` failed (${r.code}) without naming the file: ${oneLine(failureText(r))}`);
            if (kind.fault === "backup data file" || kind.fault === "key file") {
              const target = join(ws.dir, `wrong-${n}.db`);
              const restore = await runCli(["restore", m!.id, "--to", target], { env });
              if (restore.code === 0) {
                lost++;
                problems.push(`${key} ${how}: restore succeeded from a damaged file`);
              }
              await rm(target, { force: true });
            }
            return outcome(problems, lost, 0, detected);
          } finally {
            await rm(copy, { recursive: true, force: true });
          }
        }),
      );
    }
    return rows;
  } finally {
    await ws.cleanup();
  }
}
