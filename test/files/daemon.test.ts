import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pino from "pino";
import { Daemon } from "../../dist/daemon/daemon.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { freePort, metricValue, parseMetrics, waitFor } from "../support/http.js";

let ws: Workspace;
beforeAll(async () => {
  ws = await workspace();
});
afterAll(() => ws.cleanup());

describe("the daemon schedules a files: source like a database", () => {
  it("runs the missed backup of a folder on start", async () => {
    const folder = join(ws.dir, "etc-myapp");
    await mkdir(folder);
    await writeFile(join(folder, "app.conf"), "port=80\n");
    const port = await freePort();
    const path = join(ws.dir, "holdfast.yaml");
    await writeFile(
      path,
      [`repo: ${ws.repo}`, `passphrase_file: ${ws.passphraseFile}`, `state_dir: ${join(ws.dir, "state")}`, "http:", `  listen: 127.0.0.1:${port}`, "databases:", "  myapp-config:", `    source: "files:${folder}"`, "    schedule:", '      backup: "0 3 * * *"'].join("\n"),
    );
    const daemon = await Daemon.start(path, pino({ level: "silent" }));
    try {
      const scrape = async () => parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      await waitFor("the missed backup", async () => metricValue(await scrape(), "holdfast_backups_total", { database: "myapp-config", result: "success" }) === 1, 30_000);
    } finally {
      await daemon.stop();
    }
    const list = JSON.parse((await runCli(["list", "--json"], { env: ws.env })).stdout);
    expect(list.backups.map((m: { engine: string; source: { uri: string } }) => [m.engine, m.source.uri])).toEqual([["files", `files:${folder}`]]);
    const status = await runCli(["status", "--json", "--config", path], { env: ws.env });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).databases[0]).toMatchObject({ name: "myapp-config", backups: 1, stale: false });
  });
});
