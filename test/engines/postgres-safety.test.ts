import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { fingerprint, seedApp } from "../support/pg-data.js";

/**
 * Safety backups are their own kind: listed with a marker, never `latest`, not counted by retention
 * (kept 7 days on their own), and retrying `restore latest --in-place` restores the same backup again.
 */
let pg: PgCluster;
let ws: Workspace;

beforeAll(async () => {
  pg = await startCluster();
  ws = await workspace();
  await seedApp(pg, "shop", 300);
}, 120_000);
afterAll(async () => {
  await pg?.destroy();
  await ws?.cleanup();
});

async function json(args: string[], env = ws.env): Promise<Record<string, unknown>> {
  const r = await runCli([...args, "--json"], { env });
  expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe("safety backups are a kind of their own", () => {
  it("never latest; a retried in-place restore restores the same backup; retention keeps them apart", async () => {
    const url = pg.url("shop");
    const full = (await json(["backup", url])) as { id: string; kind: string };
    expect(full.kind).toBe("full");
    const original = await fingerprint(pg, "shop", "public.orders");
    await pg.query("DELETE FROM orders WHERE id % 3 = 0", "shop");

    const first = (await json(["restore", "latest", "--in-place", "--to", url, "--terminate-timeout", "1"])) as { backupId: string; safetyBackupId: string; source: string };
    expect(first.backupId).toBe(full.id);
    expect(first.source).toBe(url);
    expect(first.safetyBackupId).toMatch(/^\d{8}T\d{6}Z/);
    expect(await fingerprint(pg, "shop", "public.orders")).toBe(original);

    const safety = (await json(["show", first.safetyBackupId])) as { kind: string; labels: Record<string, string> };
    expect(safety.kind).toBe("safety");
    expect(safety.labels["holdfast.restoring"]).toBe(full.id);
    expect(((await json(["show", "latest", "--source", url])) as { id: string }).id).toBe(full.id);
    expect(((await json(["verify", "latest", "--source", url])) as { backups: { id: string }[] }).backups.map((b) => b.id)).toEqual([full.id]);

    // The natural retry: the same backup, not the pre-restore state.
    await pg.query("DELETE FROM orders WHERE id % 5 = 0", "shop");
    const retry = (await json(["restore", "latest", "--in-place", "--to", url, "--terminate-timeout", "1"])) as { backupId: string; safetyBackupId: string };
    expect(retry.backupId).toBe(full.id);
    expect(retry.safetyBackupId).not.toBe(first.safetyBackupId);
    expect(await fingerprint(pg, "shop", "public.orders")).toBe(original);

    const listed = await runCli(["list"], { env: ws.env });
    expect(listed.stdout).toMatch(new RegExp(`${first.safetyBackupId}\\s+safety \\*`));
    expect(listed.stdout).toContain("* safety backup: taken automatically before a restore replaced a database");

    // Retention counts the full backup only; safety backups stay 7 days, then go.
    const soon = await runCli(["prune", "--keep-last", "1"], { env: ws.env });
    expect(soon.code, soon.stderr).toBe(0);
    expect(soon.stdout).toContain(`safety ${first.safetyBackupId} of ${url}: kept (safety backup, kept 7 days`);
    expect(soon.stdout).toMatch(new RegExp(`keep\\s+${full.id}`));
    const later = new Date(Date.now() + 8 * 86_400_000).toISOString();
    const pruned = await runCli(["prune", "--keep-last", "1"], { env: { ...ws.env, HOLDFAST_NOW: later } });
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toContain(`safety ${first.safetyBackupId} of ${url}: removed (safety backup older than 7 days)`);
    const left = ((await json(["list"])) as { backups: { id: string }[] }).backups.map((b) => b.id);
    expect(left).toEqual([full.id]);
  });

  it("restore --clean over an existing database takes a safety backup first", async () => {
    const url = pg.url("shop");
    const r = (await json(["restore", "latest", "--source", url, "--to", url, "--clean"])) as { safetyBackupId?: string; backupId: string };
    expect(r.safetyBackupId).toMatch(/^\d{8}T\d{6}Z/);
    const safety = (await json(["show", r.safetyBackupId!])) as { kind: string; source: { uri: string } };
    expect(safety).toMatchObject({ kind: "safety", source: { uri: url } });
  });
});
