/**
 * Export + import benchmark, peers and Holdfast on the same rows in one run:
 *
 *   PostgreSQL → PostgreSQL: `holdfast export --out` + `holdfast import` vs `psql \copy` out and in
 *                            (both into a target holding the same empty schema)
 *   SQLite → PostgreSQL:     `holdfast export` + `holdfast import --create-schema` vs `pgloader`
 *                            (both into an empty database)
 *
 *   npm run bench:transfer                        # ≈ 1 GB of orders (BENCH_TRANSFER_ORDERS=5000000)
 *   BENCH_TRANSFER_ORDERS=200000 npm run bench:transfer
 *
 * Realistic rows: customers (text, unique e-mail, timestamptz, boolean) and orders (a foreign key,
 * numeric amounts, text, jsonb, timestamps; in SQLite a DATETIME column of epoch milliseconds and
 * a BOOLEAN of 0/1). Peak RSS from GNU time (%M) of each process (the largest one of a pipeline).
 * Besides speed it prints what each tool made of an epoch-millisecond DATETIME.
 */
import Database from "better-sqlite3";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startCluster, type PgCluster } from "../test/support/pg-cluster.js";
import { timed, type Timed } from "./pg-tools.js";

const ORDERS = Number(process.env.BENCH_TRANSFER_ORDERS ?? 5_000_000);
const CUSTOMERS = Math.max(1, Math.floor(ORDERS / 10));
const BUILD = resolve(import.meta.dirname, "../.bench-dist-transfer");
const CLI = process.env.BENCH_CLI ? resolve(process.env.BENCH_CLI) : join(BUILD, "cli/main.js");
const TABLES = ["customers", "orders"];

const SCHEMA = `
  CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL, active boolean NOT NULL);
  CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
    amount numeric(12,2) NOT NULL, status text NOT NULL, note text, placed_at timestamptz NOT NULL, meta jsonb);`;

async function loadPostgres(pg: PgCluster): Promise<void> {
  await pg.query("CREATE DATABASE src");
  await pg.query(SCHEMA, "src");
  await pg.query(
    `INSERT INTO customers (name, email, created_at, active)
       SELECT 'Customer ' || md5(i::text), 'c' || i || '@example.com', now() - (i % 1000) * interval '1 day', i % 7 <> 0
       FROM generate_series(1, ${CUSTOMERS}) i`,
    "src",
  );
  await pg.query(
    `INSERT INTO orders (customer_id, amount, status, note, placed_at, meta)
       SELECT 1 + i % ${CUSTOMERS}, round((random() * 1000)::numeric, 2), (ARRAY['new','paid','shipped','returned'])[1 + i % 4],
              CASE WHEN i % 5 = 0 THEN NULL ELSE md5(random()::text) || ' ' || md5(random()::text) END,
              now() - random() * interval '900 days',
              jsonb_build_object('sku', substr(md5(i::text), 1, 10), 'qty', 1 + i % 9, 'gift', i % 11 = 0)
       FROM generate_series(1, ${ORDERS}) i`,
    "src",
  );
  await pg.query("VACUUM ANALYZE", "src");
}

/**
 * The same rows as a developer's SQLite file, BOOLEAN as 0/1 and DATETIME as ISO text or (as many
 * apps write them) epoch milliseconds — which pgloader reads as a year and refuses.
 */
function loadSqlite(path: string, orders: number, dates: "iso" | "epoch-ms"): void {
  const customers = Math.max(1, Math.floor(orders / 10));
  const when = (ms: number) => (dates === "iso" ? new Date(ms).toISOString() : ms);
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE,
             created_at DATETIME NOT NULL, active BOOLEAN NOT NULL);
           CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL REFERENCES customers (id),
             amount NUMERIC NOT NULL, status TEXT NOT NULL, note TEXT, placed_at DATETIME NOT NULL, meta TEXT);`);
  const now = Date.now();
  const c = db.prepare("INSERT INTO customers (name, email, created_at, active) VALUES (?, ?, ?, ?)");
  const o = db.prepare("INSERT INTO orders (customer_id, amount, status, note, placed_at, meta) VALUES (?, ?, ?, ?, ?, ?)");
  const hex = () => Math.random().toString(16).slice(2).padEnd(13, "0");
  const batch = (from: number, to: number, fn: (i: number) => void) => db.transaction(() => { for (let i = from; i < to; i++) fn(i); })();
  for (let i = 1; i <= customers; i += 50_000) batch(i, Math.min(customers + 1, i + 50_000), (k) => c.run(`Customer ${hex()}${hex()}`, `c${k}@example.com`, when(now - (k % 1000) * 86_400_000), k % 7 === 0 ? 0 : 1));
  const statuses = ["new", "paid", "shipped", "returned"];
  for (let i = 1; i <= orders; i += 50_000) {
    batch(i, Math.min(orders + 1, i + 50_000), (k) =>
      o.run(1 + (k % customers), Math.round(Math.random() * 100_000) / 100, statuses[k % 4], k % 5 === 0 ? null : `${hex()}${hex()}${hex()} ${hex()}${hex()}`,
        when(now - Math.floor(Math.random() * 900 * 86_400_000)), JSON.stringify({ sku: hex().slice(0, 10), qty: 1 + (k % 9), gift: k % 11 === 0 })),
    );
  }
  db.close();
}

function sum(parts: Timed[]): Timed {
  return { seconds: parts.reduce((s, p) => s + p.seconds, 0), rssMb: Math.max(...parts.map((p) => p.rssMb)), out: "" };
}

async function main(): Promise<void> {
  if (!process.env.BENCH_CLI) execFileSync("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", BUILD], { cwd: resolve(import.meta.dirname, ".."), stdio: "inherit" });
  // No checkpoint starts inside a timed step: max_wal_size is above what one load writes, and each
  // step begins with a CHECKPOINT (settle()). Otherwise whichever load met a checkpoint would pay
  // for it and for the full-page writes after it, and not the others. Autovacuum is off for the same
  // reason: after each load of millions of rows it vacuums and analyzes that table, on the same two
  // cores as the step that follows (the \copy load's maintenance ran during Holdfast's export).
  const pg = await startCluster({ conf: { shared_buffers: "256MB", max_wal_size: "16GB", checkpoint_timeout: "1h", autovacuum: "off" } });
  const work = await mkdtemp(join(tmpdir(), "holdfast-bench-transfer-"));
  try {
    console.error(`loading ${ORDERS} orders, ${CUSTOMERS} customers into PostgreSQL and SQLite …`);
    await loadPostgres(pg);
    const sqlite = join(work, "app.db");
    loadSqlite(sqlite, ORDERS, "iso");
    const srcMb = Number((await pg.query<{ s: string }>("SELECT pg_database_size('src')::text AS s"))[0]!.s) / 2 ** 20;
    const sqliteMb = (await stat(sqlite)).size / 2 ** 20;
    const bin = pg.binDir;
    const pgEnv = { PGHOST: pg.socketDir, PGPORT: String(pg.port), PGUSER: pg.superuser };
    const hfEnv = { HOLDFAST_TMPDIR: work, HOLDFAST_LOG_LEVEL: "warn" };
    const psql = (db: string, command: string) => timed([join(bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", command], { env: pgEnv });
    const settle = () => pg.query("CHECKPOINT");
    const withSchema = async (db: string) => {
      await pg.query(`CREATE DATABASE ${db}`);
      await pg.query(SCHEMA, db);
    };

    console.error("psql \\copy out and in");
    await withSchema("dst_copy");
    await settle();
    const copyOut = [];
    for (const t of TABLES) copyOut.push(await psql("src", `\\copy ${t} TO '${join(work, `${t}.copy`)}'`));
    await settle();
    const copyIn = [];
    for (const t of TABLES) copyIn.push(await psql("dst_copy", `\\copy ${t} FROM '${join(work, `${t}.copy`)}'`));
    const copyRound = sum([...copyOut, ...copyIn]);

    console.error("holdfast export + import (PostgreSQL → PostgreSQL)");
    await withSchema("dst_hf");
    const pgExport = join(work, "pg.export");
    await settle();
    const hfOut = await timed([process.execPath, CLI, "export", pg.url("src"), "--out", pgExport, "--encryption", "none"], { env: hfEnv });
    await settle();
    const hfIn = await timed([process.execPath, CLI, "import", pgExport, "--to", pg.url("dst_hf"), "--strategy", "fail"], { env: hfEnv });
    const hfRound = sum([hfOut, hfIn]);

    console.error("pgloader (SQLite → PostgreSQL)");
    await pg.query("CREATE DATABASE dst_pgloader");
    await settle();
    const loader = await timed(["pgloader", "--quiet", `sqlite://${sqlite}`, `pgsql://${pg.superuser}@unix:${pg.socketDir}:${pg.port}/dst_pgloader`]);

    console.error("holdfast export + import --create-schema (SQLite → PostgreSQL)");
    await pg.query("CREATE DATABASE dst_hf_sqlite");
    const sqliteExport = join(work, "sqlite.export");
    await settle();
    const hfSqOut = await timed([process.execPath, CLI, "export", `sqlite:${sqlite}`, "--out", sqliteExport, "--encryption", "none"], { env: hfEnv });
    await settle();
    const hfSqIn = await timed([process.execPath, CLI, "import", sqliteExport, "--to", pg.url("dst_hf_sqlite"), "--strategy", "fail", "--create-schema"], { env: hfEnv });
    const hfSq = sum([hfSqOut, hfSqIn]);

    console.error("epoch-millisecond DATETIMEs: pgloader and holdfast on 1,000 orders");
    const probe = join(work, "epoch.db");
    loadSqlite(probe, 1000, "epoch-ms");
    await pg.query("CREATE DATABASE probe_pgloader");
    await pg.query("CREATE DATABASE probe_hf");
    const probeLoader = await timed(["pgloader", `sqlite://${probe}`, `pgsql://${pg.superuser}@unix:${pg.socketDir}:${pg.port}/probe_pgloader`]);
    const probeExport = join(work, "epoch.export");
    await timed([process.execPath, CLI, "export", `sqlite:${probe}`, "--out", probeExport, "--encryption", "none"], { env: hfEnv });
    const probeHf = await timed([process.execPath, CLI, "import", probeExport, "--to", pg.url("probe_hf"), "--strategy", "fail", "--create-schema"], { env: hfEnv });

    const count = async (db: string) => Number((await pg.query<{ n: string }>("SELECT count(*)::text AS n FROM orders", db))[0]!.n);
    const firstDate = async (db: string) => String((await pg.query<{ d: string }>("SELECT placed_at::text AS d FROM orders ORDER BY id LIMIT 1", db))[0]?.d);
    const counts = { copy: await count("dst_copy"), holdfast: await count("dst_hf"), pgloader: await count("dst_pgloader"), holdfastSqlite: await count("dst_hf_sqlite") };
    for (const [who, n] of Object.entries(counts)) if (n !== ORDERS) throw new Error(`${who} imported ${n} orders, not ${ORDERS}`);
    const sequenceWorks = async (db: string) =>
      pg.query("INSERT INTO customers (name, email, created_at, active) VALUES ('new', 'new@example.com', now(), true)", db).then(() => "yes", (e: Error) => `no (${e.message})`);

    const f = (n: number) => n.toFixed(2);
    console.log(`\nExport + import benchmark: ${ORDERS} orders + ${CUSTOMERS} customers (PostgreSQL ${srcMb.toFixed(0)} MB, SQLite ${sqliteMb.toFixed(0)} MB), ${process.platform} ${process.arch}`);
    console.log("path                      peer                 peer_s  holdfast_s  ratio  peer_RSS_MB  hf_RSS_MB (export/import)");
    console.log(`PostgreSQL → PostgreSQL   psql \\copy out+in  ${f(copyRound.seconds).padStart(8)} ${f(hfRound.seconds).padStart(11)} ${f(hfRound.seconds / copyRound.seconds).padStart(6)} ${copyRound.rssMb.toFixed(0).padStart(12)}  ${hfOut.rssMb.toFixed(0)}/${hfIn.rssMb.toFixed(0)}`);
    console.log(`SQLite → PostgreSQL       pgloader           ${f(loader.seconds).padStart(8)} ${f(hfSq.seconds).padStart(11)} ${f(hfSq.seconds / loader.seconds).padStart(6)} ${loader.rssMb.toFixed(0).padStart(12)}  ${hfSqOut.rssMb.toFixed(0)}/${hfSqIn.rssMb.toFixed(0)}`);
    console.log(`  phases: export PG ${f(hfOut.seconds)} s, import PG ${f(hfIn.seconds)} s; \\copy out ${f(sum(copyOut).seconds)} s, in ${f(sum(copyIn).seconds)} s; export SQLite ${f(hfSqOut.seconds)} s, import ${f(hfSqIn.seconds)} s`);
    const loaderError = /ERROR (.*)/.exec(probeLoader.out)?.[1] ?? "none";
    console.log(`  epoch-ms DATETIME, 1,000 orders: pgloader loaded ${await count("probe_pgloader")} (first error: ${loaderError}); holdfast loaded ${await count("probe_hf")}, first placed_at ${await firstDate("probe_hf")}`);
    console.log(`  holdfast's plan for it: ${/DATETIME[^\n]*/.exec(probeHf.out)?.[0] ?? "(not shown)"}`);
    console.log(`  insert without an id after the load: pgloader ${await sequenceWorks("dst_pgloader")}; holdfast ${await sequenceWorks("dst_hf_sqlite")}`);
    console.log("targets: PG→PG ratio ≤ 1.3, SQLite→PG ratio < 1.0 (faster than pgloader), Holdfast peak RSS ≤ 150 MB");
  } finally {
    await pg.destroy();
    await rm(work, { recursive: true, force: true });
    if (!process.env.BENCH_CLI) await rm(BUILD, { recursive: true, force: true });
  }
}

await main();
