import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Workspace } from "../support/cli.js";
import type { PgCluster } from "../support/pg-cluster.js";
import { shareWithServer, startArchivingCluster, startRestored } from "../support/pitr.js";
import { engineSuite } from "./engine-suite.js";

let cluster: PgCluster;
let dir = "";
const CONTENT = "SELECT count(*)::int AS n, md5(string_agg(id || ':' || body, ',' ORDER BY id)) AS f FROM events";

engineSuite("postgres (physical)", {
  engine: "postgres-physical",
  backupArgs: ["--type", "physical"],
  async start(ws: Workspace) {
    dir = ws.dir;
    await shareWithServer(ws);
    cluster = await startArchivingCluster(ws);
    await cluster.query("CREATE TABLE events (id int PRIMARY KEY, body text NOT NULL)");
    await cluster.query("INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 2000) g");
  },
  async stop() {
    await cluster?.destroy();
  },
  source: () => cluster.url(),
  freshTarget: (label) => join(dir, `data-${label}`),
  replaceArgs: ["--replace"],
  async content(target) {
    if (target === cluster.url()) return (await cluster.query(CONTENT))[0];
    if (!existsSync(join(target, "PG_VERSION"))) return undefined;
    const server = await startRestored(target);
    try {
      return (await server.query(CONTENT))[0];
    } finally {
      await server.stop();
    }
  },
});
