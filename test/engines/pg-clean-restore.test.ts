import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFile, open, readdir, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { seedApp } from "../support/pg-data.js";
import { databaseState, type DatabaseState } from "../support/pg-state.js";

/**
 * `restore --clean` over an existing database never half-drops it: the backup is checked to its
 * last byte before pg_restore starts, and pg_restore runs in one transaction.
 */
let pg: PgCluster;
let ws: Workspace;
let backupId: string;
let storedFile: string;
let atBackup: DatabaseState;

beforeAll(async () => {
  pg = await startCluster();
  await seedApp(pg, "shop", 800);
  ws = await workspace();
  atBackup = await databaseState(pg, "shop");
  const b = await runCli(["backup", pg.url("shop"), "--json"], { env: ws.env });
  expect(b.code, b.stderr).toBe(0);
  const m = JSON.parse(b.stdout) as { id: string; files: { key: string }[] };
  backupId = m.id;
  storedFile = join(ws.repo, m.files[0]!.key);
  // The live database moves on after the backup.
  await pg.query(
    `INSERT INTO customers (name, score) SELECT 'late ' || i, i FROM generate_series(1, 40) i;
     UPDATE orders SET note = 'changed' WHERE id % 7 = 0;
     DELETE FROM audit_log WHERE line LIKE 'line 1%';
     CREATE TABLE after_backup (id int PRIMARY KEY, v text);
     INSERT INTO after_backup SELECT i, 'v' || i FROM generate_series(1, 25) i;`,
    "shop",
  );
});
afterAll(async () => {
  await pg?.destroy();
  await ws?.cleanup();
});

async function damaged(kind: "truncate" | "flip", run: () => Promise<void>): Promise<void> {
  const saved = `${storedFile}.good`;
  await copyFile(storedFile, saved);
  try {
    const size = (await stat(storedFile)).size;
    if (kind === "truncate") await truncate(storedFile, Math.floor(size * 0.6));
    else {
      const handle = await open(storedFile, "r+");
      const at = Math.floor(size / 2);
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, at);
      byte[0] = byte[0]! ^ 0x01;
      await handle.write(byte, 0, 1, at);
      await handle.close();
    }
    await run();
  } finally {
    await copyFile(saved, storedFile);
  }
}

async function noSpoolLeft(): Promise<void> {
  expect((await readdir(ws.dir)).filter((f) => f.startsWith("holdfast-pgrestore-") || f.startsWith(".holdfast-pgpass-"))).toEqual([]);
}

describe("restore --clean over an existing database", () => {
  it("a truncated stored file: TRUNCATED, and the database is exactly as it was", async () => {
    const before = await databaseState(pg, "shop");
    expect(before.tables["public.after_backup"]).toBeDefined();
    await damaged("truncate", async () => {
      const r = await runCli(["restore", backupId, "--to", pg.url("shop"), "--clean"], { env: ws.env });
      expect(r.code, r.stderr).toBe(10);
      expect(errorLine(r)).toMatch(/truncated/);
      expect(errorLine(r)).toContain(`backups/${backupId}/`);
    });
    const after = await databaseState(pg, "shop");
    expect(after.schema).toBe(before.schema);
    expect(after.tables).toEqual(before.tables);
    await noSpoolLeft();
  });

  it("one byte flipped in the middle: CORRUPTED, and the database is exactly as it was", async () => {
    const before = await databaseState(pg, "shop");
    await damaged("flip", async () => {
      const r = await runCli(["restore", backupId, "--to", pg.url("shop"), "--clean", "--jobs", "2"], { env: ws.env });
      expect(r.code, r.stderr).toBe(9);
      expect(errorLine(r)).toContain(`backups/${backupId}/`);
    });
    const after = await databaseState(pg, "shop");
    expect(after.schema).toBe(before.schema);
    expect(after.tables).toEqual(before.tables);
    await noSpoolLeft();
  });

  it("a statement that fails half-way (a view depends on a table it must drop) rolls everything back", async () => {
    await pg.query("CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100", "shop");
    try {
      const before = await databaseState(pg, "shop");
      const r = await runCli(["restore", backupId, "--to", pg.url("shop"), "--clean"], { env: ws.env });
      expect(r.code, r.stderr).toBe(17);
      expect(errorLine(r)).toMatch(/pg_restore failed/);
      const after = await databaseState(pg, "shop");
      expect(after.schema).toBe(before.schema);
      expect(after.tables).toEqual(before.tables);
    } finally {
      await pg.query("DROP VIEW big_orders", "shop");
    }
  });

  it("an intact backup restores over the database and passes its checks (--jobs warns, runs as one job)", async () => {
    const r = await runCli(["restore", backupId, "--to", pg.url("shop"), "--clean", "--jobs", "2", "--checksums", "--json"], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { check: { ok: boolean; details: { warnings?: string[] }; tables: { checksumMatches?: boolean }[] } };
    expect(out.check.ok).toBe(true);
    expect(out.check.tables.every((t) => t.checksumMatches === true)).toBe(true);
    expect(out.check.details.warnings?.[0]).toMatch(/--jobs 2 ignored/);
    const after = await databaseState(pg, "shop");
    // Every table of the backup is back as it was; a table the backup does not know is left alone.
    for (const [name, content] of Object.entries(atBackup.tables)) expect(after.tables[name], name).toBe(content);
    expect(after.tables["public.after_backup"]).toBeDefined();
    await noSpoolLeft();
  });
});
