import type { Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { databases, fingerprint, seedApp } from "../support/pg-data.js";
import { engineSuite } from "./engine-suite.js";

let cluster: PgCluster;
const TABLES = ["customers", "orders", "billing.invoices", "audit_log", "filler"];
const dbOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));

engineSuite("postgres (logical)", {
  engine: "postgres",
  async start(_ws: Workspace) {
    cluster = await startCluster();
    await seedApp(cluster, "app", 1000);
    // A few MB of incompressible rows: the backup's upload lasts long enough to be interrupted.
    await cluster.query("CREATE TABLE filler AS SELECT g AS id, gen_random_bytes(1024) AS body FROM generate_series(1, 6000) g", "app");
  },
  async stop() {
    await cluster?.destroy();
  },
  source: () => cluster.url("app"),
  freshTarget: (label) => cluster.url(`app_${label}`),
  replaceArgs: ["--in-place"],
  async content(target) {
    const db = dbOf(target);
    if (!(await databases(cluster)).includes(db)) return undefined;
    return Promise.all(TABLES.map((t) => fingerprint(cluster, db, t)));
  },
  async change() {
    await cluster.query("DELETE FROM audit_log WHERE line LIKE 'line 1%'", "app");
  },
});
