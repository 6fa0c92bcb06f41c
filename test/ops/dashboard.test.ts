import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { startDaemon, type RunningDaemon } from "../support/daemon.js";
import { runCli, workspace, type Workspace } from "../support/cli.js";
import { createDatabase } from "../support/sqlite.js";
import { freePort, waitFor } from "../support/http.js";

/**
 * The daemon's web dashboard in a real browser (Debian's chromium through playwright-core) against
 * a real daemon (child process) and real SQLite backups: rows per database, a failing job turns
 * its row red, a passing drill run from the CLI shows its RTO, a scheduled backup appears without
 * a reload, a backup page lists the manifest's tables, a drill page shows its report. Basic auth
 * guards it; the endpoint is GET-only; a daemon listening beyond loopback without auth warns.
 */
const OUT = resolve(import.meta.dirname, "../../test-output/dashboard");
const TOKEN = "dashboard-bearer-token-0123456789";
const BASIC = { username: "ops", password: "dashboard-basic-password" };
let ws: Workspace;
let base: string;
let daemon: RunningDaemon;
let browser: Browser;
let page: Page;
let drillId: string;


function yaml(listen: string, auth: boolean): string {
  return [
    `repo: ${ws.repo}`,
    `passphrase_file: ${ws.passphraseFile}`,
    `state_dir: ${join(ws.dir, "state")}`,
    `tmp_dir: ${ws.dir}`,
    "run_missed_on_start: false",
    "http:",
    `  listen: ${listen}`,
    ...(auth ? ["  token_file: token.txt", "  basic_auth_file: basic.txt"] : []),
    "databases:",
    "  app:",
    `    source: "sqlite:${join(ws.dir, "app.db")}"`,
    "    schedule:",
    '      backup: "*/4 * * * * *"',
    "    drill:",
    "      targets: { rto: 5m, rpo: 1h }",
    "  gone:",
    `    source: "sqlite:${join(ws.dir, "gone.db")}"`,
    "    schedule:",
    '      backup: "*/2 * * * * *"',
  ].join("\n");
}

const rowOf = (name: string) => page.locator(`tr.db[data-database="${name}"]`);

beforeAll(async () => {
  ws = await workspace();
  await mkdir(OUT, { recursive: true });
  createDatabase(join(ws.dir, "app.db"), 300);
  createDatabase(join(ws.dir, "gone.db"), 20);
  for (const name of ["app", "gone"]) {
    const r = await runCli(["backup", `sqlite:${join(ws.dir, `${name}.db`)}`], { env: ws.env });
    expect(r.code, r.stderr).toBe(0);
  }
  const drill = await runCli(["drill", `sqlite:${join(ws.dir, "app.db")}`, "--rto", "5m", "--rpo", "1h", "--json"], { env: ws.env });
  expect(drill.code, drill.stderr).toBe(0);
  drillId = JSON.parse(drill.stdout).id;
  // The next backups of "gone" fail: its file is no more.
  await rm(join(ws.dir, "gone.db"));
  await writeFile(join(ws.dir, "token.txt"), TOKEN + "\n", { mode: 0o600 });
  await writeFile(join(ws.dir, "basic.txt"), `${BASIC.username}:${BASIC.password}\n`, { mode: 0o600 });
  base = `http://127.0.0.1:${await freePort()}`;
  const config = join(ws.dir, "holdfast.yaml");
  await writeFile(config, yaml(base.replace("http://", ""), true));
  daemon = await startDaemon(config);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
  page = await (await browser.newContext({ httpCredentials: BASIC, viewport: { width: 1500, height: 700 } })).newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  daemon?.kill();
  await ws?.cleanup();
});

describe("holdfast daemon: web dashboard", () => {
  it("shows one row per database; the failing one turns red, the drilled one shows its RTO against the target", async () => {
    await page.goto(`${base}/dashboard`);
    await expect.poll(() => page.locator("tr.db").count(), { timeout: 10_000 }).toBe(2);
    // gone's scheduled backup fails (its file was removed): its row turns red with the failure.
    await expect.poll(() => rowOf("gone").getAttribute("class"), { timeout: 10_000 }).toContain("bad");
    expect(await rowOf("gone").evaluate((el) => getComputedStyle(el).backgroundColor)).toBe("rgb(255, 235, 238)");
    expect(await rowOf("gone").locator("td.failure").innerText()).toMatch(/^backup .* ago\n.*gone\.db/s);
    expect(await rowOf("app").getAttribute("class")).not.toContain("bad");
    expect(await rowOf("app").evaluate((el) => getComputedStyle(el).backgroundColor)).not.toBe("rgb(255, 235, 238)");
    const drillCell = await rowOf("app").locator("td.drill").innerText();
    expect(drillCell).toMatch(/^PASS .* ago\nRTO \d+(\.\d)? (ms|s) \/ target 5 min\nRPO .* \/ target 60 min$/);
    expect(await rowOf("app").locator("td.trend svg polyline").count()).toBe(1);
    expect(await rowOf("gone").locator("td.drill").innerText()).toBe("never");
    await page.screenshot({ path: join(OUT, "overview.png"), fullPage: true });
  });

  it("updates without a reload: the next scheduled backup of app appears in its row", async () => {
    const first = await rowOf("app").locator("td.backup a").innerText();
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
    await expect.poll(() => rowOf("app").locator("td.backup a").innerText(), { timeout: 15_000 }).not.toBe(first);
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await page.screenshot({ path: join(OUT, "overview-updated.png"), fullPage: true });
  });

  it("a backup page shows the manifest, its files and its tables", async () => {
    const id = await rowOf("app").locator("td.backup a").innerText();
    await rowOf("app").locator("td.backup a").click();
    await page.waitForURL(`${base}/dashboard/backups/${id}`);
    await expect.poll(() => page.locator("h1").innerText(), { timeout: 10_000 }).toBe(`Backup ${id} of app`);
    const tables = await page.locator("#tables tbody tr").allInnerTexts();
    expect(tables.map((t) => t.split("\t").slice(0, 2).join(" "))).toEqual(expect.arrayContaining(["items 300", "tags 30"]));
    expect(await page.locator("pre").innerText()).toContain(`"id": "${id}"`);
    await page.screenshot({ path: join(OUT, "backup.png"), fullPage: true });
  });

  it("a drill page shows its verdict, RTO and the stored report in a sandboxed frame", async () => {
    await page.goto(`${base}/dashboard/drills/${drillId}`);
    await expect.poll(() => page.locator("h1").innerText(), { timeout: 10_000 }).toBe("Drill of sqlite:" + join(ws.dir, "app.db") + " PASS");
    expect(await page.locator("#objectives").innerText()).toMatch(/^RTO \S+ \S+ \/ target 5 min · RPO/);
    const frame = page.frameLocator("iframe.report");
    await expect.poll(() => frame.locator("h1").innerText(), { timeout: 10_000 }).toMatch(/^Disaster-recovery drill of .* PASS$/);
    expect(await page.locator("iframe.report").getAttribute("sandbox")).toBe("");
    await page.screenshot({ path: join(OUT, "drill.png"), fullPage: true });
    // An off-screen frame is not painted: scroll to it before its picture is taken.
    await page.locator("iframe.report").scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    await page.locator("iframe.report").screenshot({ path: join(OUT, "drill-report.png") });
  });

  it("needs credentials (basic or bearer), answers only GET/HEAD, and shows no secret", async () => {
    const noAuth = await fetch(`${base}/dashboard`);
    expect(noAuth.status).toBe(401);
    expect(noAuth.headers.get("www-authenticate")).toMatch(/^Basic realm="holdfast"/);
    expect((await fetch(`${base}/api/overview`)).status).toBe(401);
    const wrong = Buffer.from(`${BASIC.username}:not-the-password-at-all`).toString("base64");
    expect((await fetch(`${base}/api/overview`, { headers: { authorization: `Basic ${wrong}` } })).status).toBe(401);
    const bearer = await fetch(`${base}/api/overview`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bearer.status).toBe(200);
    const text = await bearer.text();
    expect(JSON.parse(text).databases.map((d: { name: string }) => d.name)).toEqual(["app", "gone"]);
    for (const secret of [TOKEN, BASIC.password, "correct horse battery staple"]) expect(text).not.toContain(secret);
    expect((await fetch(`${base}/health`)).status).toBe(200);
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const r = await fetch(`${base}/api/overview`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
      expect(r.status, method).toBe(405);
      expect(r.headers.get("allow")).toBe("GET, HEAD");
    }
    expect((await fetch(`${base}/dashboard/drills/..%2F..%2Fholdfast/report`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    expect((await fetch(`${base}/api/backups/nosuch`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    expect(daemon.stderr).not.toContain("without authentication");
  });

  it("warns at start when it would listen beyond loopback without authentication", async () => {
    const config = join(ws.dir, "open.yaml");
    await writeFile(config, yaml(`0.0.0.0:${await freePort()}`, false).replace(/\n {4}schedule:\n {6}backup: .*$/gm, ""));
    const open = await startDaemon(config);
    try {
      await waitFor("the daemon to start", () => open.stderr.includes("daemon started"), 30_000);
      expect(open.stderr).toMatch(/listens on 0\.0\.0\.0, beyond loopback, without authentication/);
    } finally {
      open.kill();
    }
  });
});
