import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";

let ws: Workspace;
beforeAll(async () => {
  ws = await workspace();
});
afterAll(() => ws.cleanup());

function config(database: string, top = ""): string {
  return [`repo: ${ws.repo}`, top, "databases:", "  app:", `    source: "sqlite:${join(ws.dir, "app.db")}"`, ...database.split("\n").map((l) => `    ${l}`)].filter(Boolean).join("\n");
}

const BAD: [string, string, string][] = [
  ["a bad cron", 'schedule:\n  backup: "0 25 * * *"', "databases.app.schedule.backup: invalid cron"],
  ["a bad duration", "stale_after: 25 hours", "databases.app.stale_after: expected a duration"],
  ["a bad time zone", "timezone: Mars/Olympus", "databases.app.timezone: unknown time zone"],
  ["an unknown job", 'schedule:\n  bakup: "0 2 * * *"', "unknown key databases.app.schedule.bakup"],
  ["a bad retention count", "retention:\n  keep_daily: -1", "databases.app.retention.keep_daily"],
  ["a copy schedule without copy_to", 'schedule:\n  copy: "0 4 * * *"', "databases.app.schedule.copy: needs copy_to"],
];

describe("daemon config is checked before anything starts", () => {
  it.each(BAD)("refuses %s with the path of the bad key", async (_name, entry, expected) => {
    const path = join(ws.dir, "bad.yaml");
    await writeFile(path, config(entry));
    const r = await runCli(["daemon", "--config", path], { env: ws.env });
    expect(r.code, r.stderr).toBe(3);
    expect(errorLine(r)).toContain(`${path}: `);
    expect(errorLine(r)).toContain(expected);
    expect(r.stderr).not.toContain("    at ");
  });

  it("refuses a database of an unknown kind", async () => {
    const path = join(ws.dir, "kind.yaml");
    await writeFile(path, config("").replace(/source: .*/, 'source: "mysql://db.example/app"'));
    const r = await runCli(["daemon", "--config", path], { env: ws.env });
    expect(r.code).toBe(3);
    expect(errorLine(r)).toMatch(new RegExp(`^${path}: databases\\.app\\.source: cannot tell the database kind of "mysql://db.example/app"`));
  });

  it("refuses a bad http.listen and a bad top-level alert duration", async () => {
    const path = join(ws.dir, "http.yaml");
    await writeFile(path, config("", "http:\n  listen: everywhere"));
    const r = await runCli(["daemon", "--config", path], { env: ws.env });
    expect(r.code).toBe(3);
    expect(errorLine(r)).toContain("http.listen: expected host:port");
    await writeFile(path, config("", "alerts:\n  repeat_after: often"));
    const a = await runCli(["daemon", "--config", path], { env: ws.env });
    expect(a.code).toBe(3);
    expect(errorLine(a)).toContain("alerts.repeat_after: expected a duration");
  });

  it("refuses a basic_auth_file without user:password or with a short password, naming the key and never echoing it", async () => {
    const path = join(ws.dir, "basic.yaml");
    await writeFile(path, config("", "http:\n  basic_auth_file: login.txt"));
    for (const line of ["no-colon-in-this-line", "ops:short1", ":password-without-user"]) {
      await writeFile(join(ws.dir, "login.txt"), line + "\n", { mode: 0o600 });
      const r = await runCli(["daemon", "--config", path], { env: ws.env });
      expect(r.code, line).toBe(3);
      expect(errorLine(r)).toBe(`${path}: http.basic_auth_file: ${join(ws.dir, "login.txt")} must hold one line "user:password" with a password of at least 12 characters`);
    }
  });

  it("status refuses a database that is not configured", async () => {
    const path = join(ws.dir, "ok.yaml");
    await writeFile(path, config('schedule:\n  backup: "0 2 * * *"'));
    const r = await runCli(["status", "nosuch", "--config", path], { env: ws.env });
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe('unknown database "nosuch" (configured: app)');
    const p = await runCli(["prune", "--database", "nosuch", "--config", path], { env: ws.env });
    expect(p.code).toBe(2);
    expect(errorLine(p)).toBe('unknown database "nosuch" (configured: app)');
  });
});

describe("daemon start-up checks", () => {
  it("refuses to start without a repository, with a wrong passphrase, or on a port in use", async () => {
    const env = { ...ws.env, HOLDFAST_REPO: undefined, HOLDFAST_PASSPHRASE_FILE: undefined };
    const path = join(ws.dir, "norepo.yaml");
    await writeFile(path, config('schedule:\n  backup: "0 2 * * *"').replace(`repo: ${ws.repo}`, `repo: ${join(ws.dir, "nothing-here")}`));
    const r = await runCli(["daemon", "--config", path], { env });
    expect(r.code).toBe(6);
    expect(errorLine(r)).toContain("no Holdfast repository at");

    const wrong = join(ws.dir, "wrong-passphrase.txt");
    await writeFile(wrong, "not the passphrase\n");
    const ok = join(ws.dir, "ok-start.yaml");
    await writeFile(ok, config('schedule:\n  backup: "0 2 * * *"', `passphrase_file: ${wrong}`));
    const w = await runCli(["daemon", "--config", ok], { env });
    expect(w.code, w.stderr).toBe(8);

    const busy = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => busy.once("listening", r));
    const port = (busy.address() as { port: number }).port;
    try {
      await writeFile(ok, config('schedule:\n  backup: "0 2 * * *"', `passphrase_file: ${ws.passphraseFile}\nhttp:\n  listen: 127.0.0.1:${port}`));
      const p = await runCli(["daemon", "--config", ok], { env });
      expect(p.code).toBe(3);
      expect(errorLine(p)).toBe(`${ok}: http.listen: cannot listen on 127.0.0.1:${port} (EADDRINUSE)`);
    } finally {
      busy.close();
    }
  });
});
