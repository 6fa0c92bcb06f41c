import { execFileSync } from "node:child_process";
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CLI, runCli, workspace, type Workspace } from "../support/cli.js";
import { postgresBinDir, startCluster, type PgCluster } from "../support/pg-cluster.js";
import { SERVER_USER, shareWithServer, startArchivingCluster } from "../support/pitr.js";

/**
 * The real things the recipes run against, made once and shared: a passphrase repository made by
 * the real CLI, its exported key, a `holdfast` command on PATH, and (on first use) PostgreSQL
 * clusters: the archiving one serves only base backups, so no other recipe's WAL delays them.
 */
export interface RecipeParts {
  ws: Workspace;
  /** The repository's key as `holdfast key export` wrote it (the copy every recipe folder gets). */
  identity: string;
  /** What a user types at the passphrase prompt. */
  passphrase: string;
  /** PATH for recipes: `holdfast`, PostgreSQL's programs, the system's. */
  path: string;
  /** A backup taken with the real CLI; its manifest as `--json` prints it. */
  backup(args: string[]): Promise<{ id: string; files: { key: string }[]; details: Record<string, unknown> }>;
  /** A new private folder for one recipe, holding identity.txt (0600) unless told not to; owned by the server's OS user if asked. */
  folder(name: string, options?: { owner?: "server"; identity?: false }): Promise<string>;
  /** A PostgreSQL cluster (started on first use): "plain", or "archiving" its WAL into the repository. */
  cluster(kind: "plain" | "archiving"): Promise<PgCluster>;
  /** The repository readable by the server's OS user again (after backups taken as root). */
  shareRepository(): Promise<void>;
  close(): Promise<void>;
}

export async function recipeParts(): Promise<RecipeParts> {
  const ws = await workspace();
  const bin = join(ws.dir, "bin");
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, "holdfast"), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
  // The repository's key, exported once with the real CLI; every recipe gets a copy.
  const identity = join(ws.dir, "identity.txt");
  const exported = await runCli(["key", "export", "--out", identity], { env: ws.env });
  if (exported.code !== 0) throw new Error(`key export failed: ${exported.stderr}`);
  const clusters = new Map<string, Promise<PgCluster>>();
  const shareRepository = () => shareWithServer(ws);
  return {
    ws,
    identity,
    passphrase: (await readFile(ws.passphraseFile, "utf8")).trim(),
    path: [bin, postgresBinDir(), "/usr/local/bin", "/usr/bin", "/bin"].join(":"),
    async backup(args) {
      const r = await runCli(["backup", ...args, "--json"], { env: ws.env });
      if (r.code !== 0) throw new Error(`backup ${args.join(" ")} failed: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    async folder(name, options = {}) {
      const dir = join(ws.dir, "recipes", name);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(join(ws.dir, "recipes"), 0o711);
      if (options.identity !== false) {
        await copyFile(identity, join(dir, "identity.txt"));
        await chmod(join(dir, "identity.txt"), 0o600);
      }
      if (options.owner === "server" && process.getuid?.() === 0) execFileSync("chown", ["-R", `${SERVER_USER}:${SERVER_USER}`, dir]);
      return dir;
    },
    cluster(kind) {
      if (!clusters.has(kind)) clusters.set(kind, kind === "plain" ? startCluster() : shareRepository().then(() => startArchivingCluster(ws, { lean: true })));
      return clusters.get(kind)!;
    },
    shareRepository,
    async close() {
      for (const c of clusters.values()) await (await c.catch(() => undefined))?.destroy();
      await ws.cleanup();
    },
  };
}
