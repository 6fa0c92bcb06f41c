import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { userInfo } from "node:os";
import { describePg, parsePgUrl } from "../../src/engines/postgres/connection.js";
import { postgresEngine } from "../../src/engines/postgres/logical.js";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";

/**
 * Every form libpq accepts, with libpq's defaults, against a real cluster reached through its unix
 * socket folder: the PostgreSQL docs' `postgres://user@/db?host=/dir`, a percent-encoded socket
 * host, keyword/value strings, no user (the OS user), no database (the user's name), PG* variables.
 */
let pg: PgCluster;
let ws: Workspace;
const osUser = userInfo().username;
const NO_PG_ENV = { PGHOST: undefined, PGPORT: undefined, PGUSER: undefined, PGDATABASE: undefined, PGSSLMODE: undefined };

beforeAll(async () => {
  pg = await startCluster();
  await pg.query("CREATE DATABASE shop");
  await pg.query("CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 42)", "shop");
  // The OS user running the tests gets a role of its own name (libpq's default user), unless it is the superuser already.
  if (osUser !== pg.superuser) await pg.query(`CREATE ROLE "${osUser}" LOGIN SUPERUSER`);
  ws = await workspace();
});
afterAll(async () => {
  await pg?.destroy();
  await ws?.cleanup();
});

async function backupRows(connection: string, env: Record<string, string | undefined> = {}): Promise<{ rows: number | undefined; uri: string }> {
  const r = await runCli(["backup", connection, "--json"], { env: { ...ws.env, ...NO_PG_ENV, ...env } });
  expect(r.code, `${connection}: ${errorLine(r)}`).toBe(0);
  const m = JSON.parse(r.stdout) as { source: { uri: string }; tables: { name: string; rows: number }[] };
  return { rows: m.tables.find((t) => t.name === "public.items")?.rows, uri: m.source.uri };
}

describe("connection strings as libpq takes them", () => {
  it("postgres://user@/db?host=/socket/dir (the form the PostgreSQL docs show)", async () => {
    const r = await backupRows(`postgres://${pg.superuser}@/shop?host=${pg.socketDir}&port=${pg.port}`);
    expect(r.rows).toBe(42);
    expect(r.uri).toBe(`postgres://${pg.superuser}@localhost/shop?host=${pg.socketDir}&port=${pg.port}`);
  });

  it("a percent-encoded socket folder as the host", async () => {
    const host = encodeURIComponent(pg.socketDir);
    expect(host).toContain("%2F");
    expect((await backupRows(`postgres://${pg.superuser}@${host}:${pg.port}/shop`)).rows).toBe(42);
  });

  it("no user: the OS user, as libpq does", async () => {
    const r = await backupRows(`postgres:///shop?host=${pg.socketDir}&port=${pg.port}`);
    expect(r.rows).toBe(42);
    expect(r.uri).not.toContain("@");
    const ref = parsePgUrl(`postgresql:///shop?host=${pg.socketDir}&port=${pg.port}`);
    expect(ref.user).toBeUndefined();
  });

  it("PG* variables fill what the string leaves out (host, port, user, database)", async () => {
    const env = { PGHOST: pg.socketDir, PGPORT: String(pg.port), PGUSER: pg.superuser };
    expect((await backupRows("postgres:///shop", env)).rows).toBe(42);
    expect((await backupRows("postgres://", { ...env, PGDATABASE: "shop" })).rows).toBe(42);
  });

  it("no database: the user's name, as libpq does", () => {
    const prev = process.env.PGDATABASE;
    delete process.env.PGDATABASE;
    try {
      expect(parsePgUrl(`postgres://app@/?host=/tmp`).database).toBe("app");
    } finally {
      if (prev !== undefined) process.env.PGDATABASE = prev;
    }
  });

  it("keyword/value strings: quoted values, escapes, the same connection", async () => {
    const text = `host=${pg.socketDir} port = ${pg.port} dbname='shop' user=${pg.superuser} sslmode=disable`;
    const ref = parsePgUrl(text);
    expect(ref).toMatchObject({ host: pg.socketDir, port: pg.port, database: "shop", user: pg.superuser, sslmode: "disable" });
    expect(describePg(ref)).toBe(`postgres://${pg.superuser}@localhost/shop?host=${pg.socketDir}&port=${pg.port}&sslmode=disable`);
    const facts = await postgresEngine.probe(ref, { tempDir: ws.dir });
    expect(facts.tables).toEqual([expect.objectContaining({ name: "public.items", rows: 42 })]);
    expect(parsePgUrl(`host=h dbname='my \\'odd\\' db' password='a b'`)).toMatchObject({ host: "h", database: "my 'odd' db", password: "a b" });
  });

  it("a URL password is taken but never shown", () => {
    const ref = parsePgUrl("postgres://u:s%3Acret@db.example:6543/app?sslmode=require");
    expect(ref).toMatchObject({ host: "db.example", port: 6543, user: "u", password: "s:cret", database: "app", sslmode: "require" });
    expect(describePg(ref)).toBe("postgres://u@db.example:6543/app?sslmode=require");
  });

  it("refuses what libpq refuses, with a usage error", async () => {
    const r = await runCli(["backup", `postgres://${pg.superuser}@localhost:99999/shop`], { env: ws.env });
    expect(r.code).toBe(2);
    expect(() => parsePgUrl("host=/tmp dbname='unterminated")).toThrow(/cannot parse the PostgreSQL connection string/);
  });
});
