#!/usr/bin/env node
/**
 * restore_command of a point-in-time restore: `node …/wal-fetch-client.js %f %p <socket>`, run by
 * PostgreSQL (as its OS user, in the data directory) for a file the restore's fetch service has
 * not already put in the spool (engines/postgres/physical/wal-fetch-service.ts). It asks the
 * service over its Unix socket and renames the verified file from the spool to %p. Loads nothing
 * but Node's own modules: no key, no repository, no configuration.
 *
 * Exit status: 0 the file is at %p; 1 the archive does not hold it (PostgreSQL's end of archive);
 * EXIT_FATAL when the service is unreachable or the file failed its checks — PostgreSQL treats a
 * status above 125 as fatal and stops recovery, instead of ending it early at the wrong point.
 */
import { connect } from "node:net";
import { rename } from "node:fs/promises";
import { join } from "node:path";
import { spoolDirFor } from "../repository/wal-prefetch.js";
import { parseWalFileName } from "../wal/names.js";

const EXIT_FATAL = 128;

function ask(socketPath: string, fileName: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = "";
    const socket = connect(socketPath, () => socket.write(`${fileName}\n`));
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (reply += d));
    socket.on("error", reject);
    socket.on("close", () => (reply.endsWith("\n") ? resolve(reply.trim()) : reject(new Error("the service closed the connection without an answer"))));
  });
}

async function main(argv: string[]): Promise<number> {
  const [fileName, dest, socketPath] = argv;
  if (!fileName || !dest || !socketPath || argv.length !== 3 || !parseWalFileName(fileName)) {
    process.stderr.write("holdfast wal-fetch-client: usage: wal-fetch-client.js <%f> <%p> <socket>\n");
    return EXIT_FATAL;
  }
  const reply = await ask(socketPath, fileName).catch((err: unknown) => `error the restore's WAL fetch service at ${socketPath} is unreachable (${(err as Error).message}); the restore that started this recovery has ended`);
  if (reply === "missing") return 1;
  if (reply === "ok") {
    await rename(join(spoolDirFor(dest), fileName), dest);
    return 0;
  }
  process.stderr.write(`holdfast wal-fetch-client: ${fileName}: ${reply.replace(/^error /, "")}\n`);
  return EXIT_FATAL;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`holdfast wal-fetch-client: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(EXIT_FATAL);
  },
);
