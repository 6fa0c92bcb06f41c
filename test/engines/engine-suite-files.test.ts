import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Workspace } from "../support/cli.js";
import { describeTree, makeTree } from "../files/tree.js";
import { engineSuite } from "./engine-suite.js";

let dir = "";
const path = (name: string) => join(dir, name);

engineSuite("files", {
  engine: "files",
  async start(ws: Workspace) {
    dir = ws.dir;
    await makeTree(path("myapp"));
    // Incompressible bytes keep the upload going long enough for the interruption cases.
    await writeFile(path("myapp/volume.bin"), randomBytes(24 * 1024 * 1024));
  },
  async stop() {},
  source: () => `files:${path("myapp")}`,
  freshTarget: (label) => path(`restored-${label}`),
  replaceArgs: ["--in-place"],
  async content(target) {
    const folder = target.replace(/^files:/, "");
    return existsSync(folder) ? describeTree(folder) : undefined;
  },
  async change() {
    await appendFile(path("myapp/volume.bin"), "changed after the backup");
  },
});
