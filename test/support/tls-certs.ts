import { execFile } from "node:child_process";
import { chmod, chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** A throwaway certificate authority, a server certificate it signed, and an unrelated CA. */
export interface TestCertificates {
  dir: string;
  caCert: string;
  otherCaCert: string;
  serverCert: string;
  serverKey: string;
  cleanup(): Promise<void>;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * openssl-made CA and a server certificate for `serverName` (CN and subjectAltName DNS only, so
 * an IP address does not match it). The server's files belong to `owner` (the OS user running
 * PostgreSQL when the tests run as root), the key 0600 as PostgreSQL demands.
 */
export async function makeCertificates(serverName: string, owner?: { uid: number; gid: number }): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), "hf-tls-"));
  const p = (name: string): string => join(dir, name);
  const openssl = (args: string[]) => exec("openssl", args, { cwd: dir });
  await openssl(["req", "-x509", ...EC, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "2", "-subj", "/CN=Holdfast Test CA"]);
  await openssl(["req", "-x509", ...EC, "-keyout", p("other.key"), "-out", p("other.crt"), "-days", "2", "-subj", "/CN=Holdfast Test CA"]);
  await openssl(["req", ...EC, "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", `/CN=${serverName}`]);
  await writeFile(p("server.ext"), `subjectAltName=DNS:${serverName}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`);
  await openssl(["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p("server.crt"), "-days", "2", "-extfile", p("server.ext")]);
  await chmod(p("server.key"), 0o600);
  if (owner) {
    await chown(dir, owner.uid, owner.gid);
    for (const f of ["server.key", "server.crt"]) await chown(p(f), owner.uid, owner.gid);
  }
  await chmod(dir, 0o755);
  return {
    dir,
    caCert: p("ca.crt"),
    otherCaCert: p("other.crt"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
