import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parsePgUrl, toolEnvironment } from "../../src/engines/postgres/connection.js";
import { errorLine, runCli, workspace, type Workspace } from "../support/cli.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { makeCertificates, type TestCertificates } from "../support/tls-certs.js";

const exec = promisify(execFile);

/**
 * sslmode means what libpq means, for Holdfast's own client and for pg_dump alike: a self-signed
 * CA on loopback, a server certificate for "localhost" only, and a server that accepts TCP
 * connections over TLS only (hostnossl … reject).
 */
let pg: PgCluster;
let certs: TestCertificates;
let ws: Workspace;

beforeAll(async () => {
  const root = process.getuid?.() === 0;
  const owner = root ? { uid: Number(execFileSync("id", ["-u", "postgres"]).toString()), gid: Number(execFileSync("id", ["-g", "postgres"]).toString()) } : undefined;
  certs = await makeCertificates("localhost", owner);
  pg = await startCluster({
    conf: { ssl: "on", ssl_cert_file: `'${certs.serverCert}'`, ssl_key_file: `'${certs.serverKey}'` },
    hba: ["hostssl all all 127.0.0.1/32 trust", "hostnossl all all all reject"],
  });
  await pg.query("CREATE DATABASE shop");
  await pg.query("CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 200) i", "shop");
  ws = await workspace();
}, 120_000);
afterAll(async () => {
  await pg?.destroy();
  await certs?.cleanup();
  await ws?.cleanup();
});

const url = (host: string, params: Record<string, string>): string => `postgres://${pg.superuser}@${host}:${pg.port}/shop?${new URLSearchParams(params).toString()}`;

/** psql with exactly the environment Holdfast gives pg_dump/pg_restore: libpq's own verdict. */
async function libpqConnects(connection: string): Promise<{ ok: boolean; stderr: string }> {
  const { env, cleanup } = await toolEnvironment(parsePgUrl(connection), ws.dir);
  try {
    const { stdout } = await exec(join(pg.binDir, "psql"), ["--no-psqlrc", "-tAc", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"], { env });
    return { ok: stdout.trim() === "t", stderr: "" };
  } catch (err) {
    return { ok: false, stderr: String((err as { stderr?: string }).stderr) };
  } finally {
    await cleanup();
  }
}

async function backup(connection: string): Promise<{ code: number; line: string; stdout: string }> {
  const r = await runCli(["backup", connection, "--json"], { env: ws.env });
  return { code: r.code, line: errorLine(r), stdout: r.stdout };
}

describe("TLS: sslmode verify-ca / verify-full verify the server as libpq does", () => {
  it("has no ~/.postgresql/root.crt to fall back on (the cases below name their CA)", () => {
    expect(existsSync(join(homedir(), ".postgresql", "root.crt"))).toBe(false);
  });

  it("verify-full with the right CA and host=localhost: backup works (pg client and pg_dump)", async () => {
    const connection = url("localhost", { sslmode: "verify-full", sslrootcert: certs.caCert });
    const r = await backup(connection);
    expect(r.code, r.line).toBe(0);
    const m = JSON.parse(r.stdout) as { source: { uri: string }; tables: { name: string; rows: number }[] };
    expect(m.tables).toEqual([expect.objectContaining({ name: "public.items", rows: 200 })]);
    // The recorded source keeps the TLS parameters (paths only, no secret).
    expect(m.source.uri).toBe(`postgres://${pg.superuser}@localhost:${pg.port}/shop?sslmode=verify-full&sslrootcert=${certs.caCert}`);
    expect(await libpqConnects(connection)).toEqual({ ok: true, stderr: "" });
  });

  it("verify-full with another CA: refused with a clear message", async () => {
    const connection = url("localhost", { sslmode: "verify-full", sslrootcert: certs.otherCaCert });
    const r = await backup(connection);
    expect(r.code).toBe(19);
    expect(r.line).toMatch(/^TLS: cannot verify the certificate of the server of postgres:\/\/.*localhost.* against .*other\.crt \(sslmode=verify-full\)/);
    const libpq = await libpqConnects(connection);
    expect(libpq.ok).toBe(false);
    expect(libpq.stderr).toMatch(/certificate verify failed/);
  });

  it("verify-full to 127.0.0.1 (not a name in the certificate): refused", async () => {
    const connection = url("127.0.0.1", { sslmode: "verify-full", sslrootcert: certs.caCert });
    const r = await backup(connection);
    expect(r.code).toBe(19);
    expect(r.line).toMatch(/^TLS: the certificate of the server of .*127\.0\.0\.1.* is not for that host name/);
    const libpq = await libpqConnects(connection);
    expect(libpq.ok).toBe(false);
    expect(libpq.stderr).toMatch(/does not match host name/);
  });

  it("verify-ca to 127.0.0.1 with the right CA: works (the chain, not the name)", async () => {
    const connection = url("127.0.0.1", { sslmode: "verify-ca", sslrootcert: certs.caCert });
    const r = await backup(connection);
    expect(r.code, r.line).toBe(0);
    expect(await libpqConnects(connection)).toEqual({ ok: true, stderr: "" });
  });

  it("verify-ca with another CA: refused", async () => {
    const connection = url("127.0.0.1", { sslmode: "verify-ca", sslrootcert: certs.otherCaCert });
    const r = await backup(connection);
    expect(r.code).toBe(19);
    expect(r.line).toMatch(/^TLS: cannot verify the certificate/);
    expect((await libpqConnects(connection)).ok).toBe(false);
  });

  it("verify-ca without any root certificate: refused before connecting, saying which file is missing", async () => {
    const r = await backup(url("127.0.0.1", { sslmode: "verify-ca" }));
    expect(r.code).toBe(19);
    expect(r.line).toContain(`sslmode=verify-ca needs a root certificate to verify the server: ${join(homedir(), ".postgresql", "root.crt")} does not exist`);
  });

  it("require: TLS without verification; with sslrootcert given, the chain is verified (as libpq does)", async () => {
    const plain = await backup(url("127.0.0.1", { sslmode: "require" }));
    expect(plain.code, plain.line).toBe(0);
    const wrongCa = url("127.0.0.1", { sslmode: "require", sslrootcert: certs.otherCaCert });
    const r = await backup(wrongCa);
    expect(r.code).toBe(19);
    expect(r.line).toMatch(/^TLS: cannot verify/);
    expect((await libpqConnects(wrongCa)).ok).toBe(false);
  });

  it("prefer (the default) uses TLS when offered; disable does not, and this server refuses it", async () => {
    const preferred = await backup(`postgres://${pg.superuser}@127.0.0.1:${pg.port}/shop`);
    expect(preferred.code, preferred.line).toBe(0);
    const disabled = await backup(url("127.0.0.1", { sslmode: "disable" }));
    expect(disabled.code).toBe(20);
    expect(disabled.line).toMatch(/authentication failed/);
  });

  it("an unknown sslmode is a usage error", async () => {
    const r = await backup(url("localhost", { sslmode: "verify-everything" }));
    expect(r.code).toBe(2);
    expect(r.line).toMatch(/sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full/);
  });
});
