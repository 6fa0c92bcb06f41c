import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CLI, startCli, workspace, type RunResult } from "../support/cli.js";
import { startCluster } from "../support/pg-cluster.js";
import { seedApp } from "../support/pg-data.js";
import { startFaultProxy } from "../support/fault-proxy.js";
import { startS3 } from "../support/s3.js";
import type { Env } from "./cli-run.js";
import type { FaultRow } from "./report.js";
import { createSource } from "./sqlite-source.js";
import { outcome, runRow, type Plan } from "./trial.js";

type Secrets = Record<string, string>;

/** Where a secret was seen: never the secret itself, only its name and the place. */
function findIn(text: string | Buffer, secrets: Secrets, place: string): string[] {
  const hay = typeof text === "string" ? text : text.toString("latin1");
  return Object.entries(secrets).filter(([, value]) => hay.includes(value)).map(([name]) => `${name} in ${place}`);
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/**
 * Samples every process's argv while a command runs (pg_dump, pg_restore, … start and end within
 * it). The CLI's own argv is what the user typed and is not counted; everything it starts is.
 */
const TOOLS = /^(pg_dump|pg_restore|pg_basebackup|psql)$/;
/** Every database tool the sampler saw running: proof that the argv grep really looked at them. */
export const toolsSeen = new Set<string>();

function sampleArgv(secrets: Secrets, self: () => number | undefined): { stop(): string[] } {
  const seen = new Set<string>();
  const timer = setInterval(() => {
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
      if (Number(pid) === self() || Number(pid) === process.pid) continue;
      let argv: string;
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, "latin1");
      } catch {
        continue;
      }
      if (argv.includes(CLI) && !argv.includes("wal-push")) continue; // another holdfast started by this suite
      const tool = argv.split("\0")[0]!.split("/").pop()!;
      if (TOOLS.test(tool)) toolsSeen.add(tool);
      for (const hit of findIn(argv, secrets, `argv of ${argv.split("\0")[0]}`)) seen.add(hit);
    }
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      return [...seen];
    },
  };
}

async function runWatched(args: string[], env: Env, secrets: Secrets): Promise<{ result: RunResult; found: string[] }> {
  const child = startCli(args, { env });
  const sampler = sampleArgv(secrets, () => child.pid);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin!.end();
  const code = await new Promise<number>((r) => child.on("close", (c) => r(c ?? 1)));
  const found = sampler.stop();
  found.push(...findIn(stdout, secrets, "stdout"), ...findIn(stderr, secrets, "stderr (logs and errors)"));
  return { result: { code, stdout, stderr }, found };
}

/**
 * The secret grep: a repository passphrase, a PostgreSQL role's password (TCP, scram), a wrong
 * password, and an S3 secret key, through a series of commands that succeed and fail. None may
 * appear in stdout, stderr (logs), any file of the repositories, or the argv of child processes.
 */
export async function secretRow(plan: Plan): Promise<FaultRow> {
  const ws = await workspace();
  const cluster = await startCluster();
  const server = await startS3(["holdfast"]);
  const proxy = await startFaultProxy(server.endpoint);
  const tag = randomBytes(6).toString("hex");
  const secrets: Secrets = {
    passphrase: `pp-${tag}-passphrase`,
    "database password": `dbpw-${tag}-Secret`,
    "wrong database password": `wrongpw-${tag}-Secret`,
    "S3 secret key": `s3sk-${tag}-Secret`,
    "wrong passphrase": `wrongpp-${tag}`,
  };
  try {
    await seedApp(cluster, "shop", 500);
    await cluster.query(`CREATE ROLE app LOGIN SUPERUSER PASSWORD '${secrets["database password"]}'`);
    const passFile = join(ws.dir, "secret-pass.txt");
    await writeFile(passFile, `${secrets.passphrase}\n`, { mode: 0o600 });
    const repo = join(ws.dir, "secret-repo");
    const s3repo = `s3://holdfast/secret-${tag}`;
    const env: Env = { ...ws.env, HOLDFAST_REPO: repo, HOLDFAST_PASSPHRASE_FILE: passFile, HOLDFAST_LOG_LEVEL: "debug" };
    const s3env: Env = { ...env, ...server.env, AWS_SECRET_ACCESS_KEY: secrets["S3 secret key"], HOLDFAST_REPO: s3repo, HOLDFAST_S3_ENDPOINT: server.endpoint };
    const url = (db: string, pw = secrets["database password"]) => `postgres://app:${encodeURIComponent(pw!)}@127.0.0.1:${cluster.port}/${db}`;
    const src = createSource(ws.dir, "app", 500);
    const steps: { args: string[]; env: Env; fails?: true }[] = [
      { args: ["repo", "init", repo, "--scrypt-work-factor", "10"], env },
      { args: ["backup", url("shop"), "--json"], env },
      { args: ["backup", `postgres://app@127.0.0.1:${cluster.port}/shop`], env: { ...env, PGPASSWORD: secrets["database password"] } },
      { args: ["list"], env },
      { args: ["show", "latest", "--json"], env },
      { args: ["verify", "--all", "--deep", "--scratch", url("postgres")], env },
      { args: ["restore", "latest", "--to", url("shop_copy")], env },
      { args: ["restore", "latest", "--to", url("shop_copy")], env, fails: true },
      { args: ["backup", url("shop", secrets["wrong database password"]), "--debug"], env, fails: true },
      { args: ["backup", url("no_such_db"), "--debug"], env, fails: true },
      { args: ["verify", "latest", "--debug"], env: { ...env, HOLDFAST_PASSPHRASE_FILE: undefined, HOLDFAST_PASSPHRASE: secrets["wrong passphrase"] }, fails: true },
      { args: ["repo", "init", s3repo, "--scrypt-work-factor", "10"], env: s3env },
      { args: ["backup", `sqlite:${src}`], env: s3env },
      { args: ["verify", "--all"], env: s3env },
      { args: ["backup", `sqlite:${src}`, "--debug"], env: { ...s3env, HOLDFAST_S3_ENDPOINT: proxy.endpoint }, fails: true },
      { args: ["copy", "--all", "--to", join(ws.dir, "secret-offsite")], env: s3env },
    ];
    let step = 0;
    return await runRow("secret grep (passphrase, database password, S3 secret)", steps.length, plan, async () => {
      const { args, env: stepEnv, fails } = steps[step++]!;
      proxy.setRule(stepEnv.HOLDFAST_S3_ENDPOINT === proxy.endpoint ? () => ({ status: 403, code: "AccessDenied" }) : undefined);
      const { result, found } = await runWatched(args, stepEnv, secrets);
      for (const file of [...(await filesUnder(repo)), ...(await filesUnder(server.directory)), ...(await filesUnder(join(ws.dir, "secret-offsite")))]) {
        if ((await stat(file)).size > 64 * 1024 * 1024) continue;
        found.push(...findIn(await readFile(file), secrets, file.replace(ws.dir, "<workspace>").replace(server.directory, "<s3>")));
      }
      const label = `\`holdfast ${args.map((a) => (Object.values(secrets).some((s) => a.includes(s)) ? "<with secret>" : a)).join(" ")}\` (exit ${result.code})`;
      const problems = [...new Set(found)].map((f) => `${label}: ${f}`);
      // The grep proves something only if the commands did what they were meant to.
      if ((result.code !== 0) !== Boolean(fails)) problems.push(`harness: ${label} was expected to ${fails ? "fail" : "succeed"}`);
      if (step === steps.length && !toolsSeen.has("pg_dump")) problems.push("harness: the argv sampler never saw pg_dump running");
      return outcome(problems);
    });
  } finally {
    await proxy.close();
    await server.stop();
    await cluster.destroy();
    await ws.cleanup();
  }
}
