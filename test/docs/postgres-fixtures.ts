import { join } from "node:path";
import pg from "pg";
import { expect } from "vitest";
import type { PgCluster } from "../support/pg-cluster.js";
import { fingerprint, seedApp, tableNames } from "../support/pg-data.js";
import { SERVER_USER, switchAndWaitArchived } from "../support/pitr.js";
import type { RecipeFixture } from "./fixtures.js";
import type { RecipeParts } from "./parts.js";

const DOC = "repository-format.md";
const SOURCE_DB = "app";

let seeded: Promise<PgCluster> | undefined;

/** The archiving cluster with an application database (awkward types, two schemas, an extension). */
function seededCluster(parts: RecipeParts): Promise<PgCluster> {
  seeded ??= parts.cluster("plain").then(async (cluster) => {
    await seedApp(cluster, SOURCE_DB, 400);
    return cluster;
  });
  return seeded;
}

async function fingerprints(cluster: PgCluster, db: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of await tableNames(cluster, db)) out[table] = await fingerprint(cluster, db, table);
  return out;
}

/** pg_dump custom or directory format, restored with createdb + pg_restore into a new database. */
function logicalFixture(format: "custom" | "directory"): RecipeFixture {
  return {
    doc: DOC,
    heading: `Restore by hand: PostgreSQL ${format} format`,
    async prepare(parts) {
      const cluster = await seededCluster(parts);
      const backup = await parts.backup([cluster.url(SOURCE_DB), "--format", format]);
      expect(backup.details.dumpFormat).toBe(format);
      const target = `${SOURCE_DB}_by_hand_${format}`;
      return {
        cwd: await parts.folder(`pg-${format}`),
        env: { PATH: parts.path, REPO: parts.ws.repo, BACKUP_ID: backup.id, TARGET_DB: target, PGHOST: cluster.socketDir, PGPORT: String(cluster.port), PGUSER: cluster.superuser },
        async check() {
          const source = await fingerprints(cluster, SOURCE_DB);
          expect(Object.keys(source)).toEqual(expect.arrayContaining(["billing.invoices", "public.customers", "public.orders"]));
          expect(await fingerprints(cluster, target)).toEqual(source);
        },
      };
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A base backup, rows before and after a moment, the WAL archived: recovery must stop at that moment. */
const physicalFixture: RecipeFixture = {
  doc: DOC,
  heading: "Restore by hand: PostgreSQL base backup and WAL",
  async prepare(parts) {
    const cluster = await parts.cluster("archiving");
    await cluster.query("CREATE TABLE events (id int PRIMARY KEY, batch int NOT NULL)");
    await cluster.query("INSERT INTO events SELECT g, 1 FROM generate_series(1, 10) g");
    const backup = await parts.backup(["--type", "physical", cluster.url()]);
    await cluster.query("INSERT INTO events SELECT g, 2 FROM generate_series(11, 20) g");
    await sleep(200);
    const [moment] = await cluster.query<{ at: string }>("SELECT clock_timestamp()::text AS at");
    await sleep(200);
    await cluster.query("INSERT INTO events SELECT g, 3 FROM generate_series(21, 30) g");
    await switchAndWaitArchived((sql) => cluster.query(sql));
    // Backups were taken as root: the server's OS user, which runs the recipe, must read them.
    await parts.shareRepository();
    const cwd = await parts.folder("physical", { owner: "server" });
    const target = join(cwd, "data");
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    return {
      cwd,
      user: SERVER_USER,
      env: { PATH: parts.path, REPO: parts.ws.repo, BACKUP_ID: backup.id, TARGET: target, TARGET_TIME: moment!.at, PGHOST: cwd, PGPORT: String(port), PGUSER: cluster.superuser },
      async check() {
        const client = new pg.Client({ host: cwd, port, user: cluster.superuser, database: "postgres" });
        await client.connect();
        try {
          const rows = (await client.query<{ id: number }>("SELECT id FROM events ORDER BY id")).rows.map((r) => r.id);
          expect(rows).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
          expect((await client.query("SELECT pg_is_in_recovery() AS r")).rows[0].r).toBe(false);
        } finally {
          await client.end();
        }
      },
      async cleanup() {
        await cluster.runAsOwner(join(cluster.binDir, "pg_ctl"), ["-D", target, "-m", "immediate", "-w", "stop"]);
      },
    };
  },
};

export const postgresFixtures: RecipeFixture[] = [logicalFixture("custom"), logicalFixture("directory"), physicalFixture];
