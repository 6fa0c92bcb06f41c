import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorLine, runCli, startCli, type RunResult } from "../support/cli.js";
import { startS3, type S3Server } from "../support/s3.js";
import { countRows, createDatabase, dumpTable } from "../support/sqlite.js";

/** s3rver checks the access key id but not V4 signatures, so any secret works: a loud one we can look for. */
const SECRET = "hfTEST-secret-Must-Never-Print-9f3c";

let server: S3Server;
let dir: string;

beforeAll(async () => {
  server = await startS3(["holdfast"]);
  dir = await mkdtemp(join(tmpdir(), "holdfast-s3cli-"));
  await writeFile(join(dir, "pass.txt"), "correct horse battery staple\n", { mode: 0o600 });
});
afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function env(repo: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...server.env, AWS_SECRET_ACCESS_KEY: SECRET, HOLDFAST_REPO: repo, HOLDFAST_PASSPHRASE_FILE: join(dir, "pass.txt"), HOLDFAST_TMPDIR: dir, ...extra };
}

function expectNoSecret(...results: RunResult[]): void {
  for (const r of results) expect(r.stdout + r.stderr).not.toContain(SECRET);
}

/** A single clear line: the error, maybe a hint, no stack trace. */
function expectOneLineError(r: RunResult, code: number, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  expect(errorLine(r)).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

async function init(repo: string): Promise<void> {
  const r = await runCli(["repo", "init", repo, "--scrypt-work-factor", "10"], { env: env(repo) });
  expect(r.code, r.stderr).toBe(0);
  expectNoSecret(r);
}

describe("the CLI on an S3 repository (s3rver on loopback)", () => {
  it("inits, backs up SQLite, lists, verifies deeply and restores", async () => {
    const repo = "s3://holdfast/e2e/main";
    const db = join(dir, "app.db");
    createDatabase(db, 3000);
    await init(repo);
    const backup = await runCli(["backup", `sqlite:${db}`, "--json"], { env: env(repo) });
    expect(backup.code, backup.stderr).toBe(0);
    const manifest = JSON.parse(backup.stdout) as { id: string; files: { key: string }[] };
    expect(manifest.files[0]!.key).toMatch(/^backups\/.+\.zst\.age$/);

    const list = await runCli(["list", "--json"], { env: env(repo) });
    expect(list.code, list.stderr).toBe(0);
    const listed = JSON.parse(list.stdout) as { repository: string; backups: { id: string }[]; incomplete: string[] };
    expect(listed.repository).toBe(repo);
    expect(listed.backups.map((b) => b.id)).toEqual([manifest.id]);

    const verify = await runCli(["verify", "--deep"], { env: env(repo) });
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/deep check: ok/);

    const target = join(dir, "restored.db");
    const restore = await runCli(["restore", "latest", "--to", target], { env: env(repo) });
    expect(restore.code, restore.stderr).toBe(0);
    expect(countRows(target, "items")).toBe(3000);
    expect(dumpTable(target, "items")).toEqual(dumpTable(db, "items"));

    const show = await runCli(["show", "latest", "--json"], { env: env(repo) });
    expect(show.stdout).not.toContain("S3RVER");
    expectNoSecret(backup, list, verify, restore, show);

    // The objects really are in the bucket, under the prefix.
    const client = server.client();
    const { ListObjectsV2Command } = await import("@aws-sdk/client-s3");
    const objects = await client.send(new ListObjectsV2Command({ Bucket: "holdfast", Prefix: "e2e/main/" }));
    const keys = (objects.Contents ?? []).map((o) => o.Key);
    expect(keys).toContain("e2e/main/holdfast.json");
    expect(keys).toContain(`e2e/main/backups/${manifest.id}/manifest.json`);
  });

  it("fails clearly when the server dies mid-upload, leaves nothing visible, and a re-run succeeds", async () => {
    const repo = "s3://holdfast/e2e/crash";
    const db = join(dir, "big.db");
    createDatabase(db, 250_000); // ~50 MB: several 8 MiB parts
    await init(repo);
    const child = startCli(["backup", `sqlite:${db}`, "--compression", "none"], { env: env(repo) });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((r) => child.on("close", (code) => r(code ?? 1)));
    // Kill the server as soon as a multipart upload has parts on its disk.
    const deadline = Date.now() + 60_000;
    while (!(await hasMultipartParts(server.directory)) && Date.now() < deadline) await sleep(10);
    await server.kill();
    const code = await exited;
    await server.restart();
    const result = { code, stdout: "", stderr };
    expectOneLineError(result, 19, /cannot reach http:\/\/127\.0\.0\.1:\d+ \((ECONNREFUSED|ECONNRESET|EPIPE)\) while accessing s3:\/\/holdfast\/e2e\/crash\/backups\//);
    expectNoSecret(result);

    // Nothing restorable is visible; what the dead server kept (the id's reservation) is reported
    // as an interrupted backup of this source, for prune to remove.
    const list = await runCli(["list", "--json"], { env: env(repo) });
    expect(list.code, list.stderr).toBe(0);
    const before = JSON.parse(list.stdout) as { backups: unknown[]; incomplete: { state: string; source?: string }[] };
    expect(before.backups).toEqual([]);
    for (const i of before.incomplete) expect(i).toMatchObject({ state: "interrupted", source: `sqlite:${db}` });

    const again = await runCli(["backup", `sqlite:${db}`, "--compression", "none"], { env: env(repo) });
    expect(again.code, again.stderr).toBe(0);
    const after = JSON.parse((await runCli(["list", "--json"], { env: env(repo) })).stdout) as { backups: unknown[]; incomplete: unknown[] };
    expect(after.backups.length).toBe(1);
    expect(after.incomplete).toEqual(before.incomplete);
    const check = await runCli(["check", "--read-data", "--json"], { env: env(repo) });
    expect(check.code, check.stderr).toBe(0);
    const report = JSON.parse(check.stdout) as { ok: boolean; orphans: string[]; staleUploadsRemoved: number | string };
    expect(report.ok).toBe(true);
    expect(report.orphans).toEqual([]);
    // s3rver implements neither ListMultipartUploads nor AbortMultipartUpload: the clean-up says so.
    expect(report.staleUploadsRemoved).toBe("unsupported");
  }, 240_000);

  it("rejects wrong credentials with one clear line and exit code AUTH_FAILED", async () => {
    const repo = "s3://holdfast/e2e/main";
    const r = await runCli(["list"], { env: env(repo, { AWS_ACCESS_KEY_ID: "NOT-A-KEY" }) });
    expectOneLineError(r, 20, /S3 credentials rejected \(InvalidAccessKeyId\): s3:\/\/holdfast\/e2e\/main/);
    expect(r.stderr).toMatch(/hint: check AWS_ACCESS_KEY_ID/);
    expectNoSecret(r);
  });

  it("names a missing bucket", async () => {
    const r = await runCli(["list"], { env: env("s3://no-such-bucket/x") });
    expectOneLineError(r, 24, /bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+/);
    const i = await runCli(["repo", "init", "s3://no-such-bucket/x", "--scrypt-work-factor", "10"], { env: env("s3://no-such-bucket/x") });
    expectOneLineError(i, 24, /bucket "no-such-bucket" does not exist/);
    expectNoSecret(r, i);
  });

  it("reports an unreachable endpoint as a connection failure", async () => {
    const r = await runCli(["list"], { env: env("s3://holdfast/e2e/main", { HOLDFAST_S3_ENDPOINT: "http://127.0.0.1:1" }) });
    expectOneLineError(r, 19, /cannot reach http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    expectNoSecret(r);
  });

  it("takes endpoint and server-side options from flags and holdfast.yaml (s3: section)", async () => {
    const bad = { HOLDFAST_S3_ENDPOINT: "http://127.0.0.1:1" };
    const viaFlag = await runCli(["list", "--s3-endpoint", server.endpoint], { env: env("s3://holdfast/e2e/main", bad) });
    expect(viaFlag.code, viaFlag.stderr).toBe(0);

    const repo = "s3://holdfast/e2e/options";
    const config = join(dir, "s3-options.yaml");
    await writeFile(config, `s3:\n  endpoint: ${server.endpoint}\n  storage_class: STANDARD_IA\n  tags:\n    team: db\n  part_size_mib: 5\n  queue_size: 2\n`);
    const noEndpoint = { HOLDFAST_S3_ENDPOINT: "", HOLDFAST_CONFIG: config };
    const r = await runCli(["repo", "init", repo, "--scrypt-work-factor", "10"], { env: env(repo, noEndpoint) });
    expect(r.code, r.stderr).toBe(0);
    const db = join(dir, "opts.db");
    createDatabase(db, 500);
    const b = await runCli(["backup", `sqlite:${db}`, "--json"], { env: env(repo, noEndpoint) });
    expect(b.code, b.stderr).toBe(0);
    const key = `e2e/options/${(JSON.parse(b.stdout) as { files: { key: string }[] }).files[0]!.key}`;
    const { GetObjectTaggingCommand } = await import("@aws-sdk/client-s3");
    const tags = await server.client().send(new GetObjectTaggingCommand({ Bucket: "holdfast", Key: key }));
    expect(tags.TagSet).toEqual([{ Key: "team", Value: "db" }]);
    await writeFile(join(dir, "bad.yaml"), "s3:\n  sse: rot13\n");
    const bad2 = await runCli(["list"], { env: env(repo, { HOLDFAST_CONFIG: join(dir, "bad.yaml") }) });
    expectOneLineError(bad2, 3, /s3\.sse/);
  });

  it("refuses a malformed S3 location", async () => {
    const r = await runCli(["list"], { env: env("s3://Bad_Bucket!/x") });
    expectOneLineError(r, 2, /not an S3 location/);
  });
});

async function hasMultipartParts(root: string): Promise<boolean> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.some((e) => e.isFile() && /_uploads/.test(e.parentPath ?? "") && /^\d+$/.test(e.name));
}
