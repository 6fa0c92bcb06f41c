import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createDatabase, dumpTable } from "../support/sqlite.js";
import type { Workspace } from "../support/cli.js";
import { engineSuite } from "./engine-suite.js";

let dir = "";
const path = (name: string) => join(dir, name);

engineSuite("sqlite", {
  engine: "sqlite",
  async start(ws: Workspace) {
    dir = ws.dir;
    createDatabase(path("app.db"), 20_000);
  },
  async stop() {},
  source: () => `sqlite:${path("app.db")}`,
  freshTarget: (label) => path(`${label}.db`),
  replaceArgs: ["--in-place"],
  async content(target) {
    const file = target.replace(/^sqlite:/, "");
    if (!existsSync(file)) return undefined;
    return { items: dumpTable(file, "items"), tags: dumpTable(file, "tags") };
  },
  async change() {
    const db = new Database(path("app.db"));
    try {
      db.prepare("DELETE FROM tags WHERE id % 2 = 0").run();
    } finally {
      db.close();
    }
  },
});
