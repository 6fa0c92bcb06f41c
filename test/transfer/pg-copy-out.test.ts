import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import copyStreams from "pg-copy-streams";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { CopyOut } from "../../dist/transfer/pg-copy-out.js";

/**
 * CopyOut reads COPY … TO STDOUT off the connection itself, taking the messages' frames out of the
 * socket's buffers in place: its bytes must be COPY's text exactly, however the server's bytes are
 * cut into reads, with notices between rows, an error halfway, a reader that stops, or a slow one.
 */
let cluster: PgCluster;
let proxyDir: string;
let proxy: Server;
let proxyWrites = 0;

/** Forwards to the cluster's socket, handing the server's bytes on in pieces of 1–13 bytes, each written on its own turn. */
function rechunkingProxy(target: string, path: string): Promise<Server> {
  const server = createServer((client: Socket) => {
    const upstream = createConnection(target);
    client.pipe(upstream);
    let queue = Promise.resolve();
    let n = 0;
    upstream.on("data", (data: Buffer) => {
      upstream.pause();
      queue = queue.then(async () => {
        for (let at = 0; at < data.length; ) {
          const size = 1 + (n++ % 13);
          client.write(data.subarray(at, at + size));
          proxyWrites++;
          at += size;
          await new Promise(setImmediate);
        }
        upstream.resume();
      });
    });
    upstream.on("end", () => void queue.then(() => client.end()));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

async function client(viaProxy = false, extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const c = new pg.Client({ host: viaProxy ? proxyDir : cluster.socketDir, port: cluster.port, user: cluster.superuser, database: "copy", ...extra });
  await c.connect();
  return c;
}

/** A direct connection for `fn`, ended afterwards. */
async function withClient(fn: (c: pg.Client) => Promise<void>): Promise<void> {
  const c = await client();
  try {
    await fn(c);
  } finally {
    await c.end();
  }
}

async function copyOutBytes(c: pg.Client, sql: string): Promise<{ bytes: Buffer; rowCount: number }> {
  const copy = c.query(new CopyOut(sql));
  const parts: Buffer[] = [];
  for await (const part of copy) parts.push(Buffer.from(part));
  return { bytes: Buffer.concat(parts), rowCount: copy.rowCount };
}

async function referenceBytes(c: pg.Client, sql: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of c.query(copyStreams.to(sql))) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.query("CREATE DATABASE copy");
  await cluster.query(
    `CREATE TABLE t (id int PRIMARY KEY, body text, note text);
     INSERT INTO t SELECT i, repeat(md5(i::text), 1 + (i * 7919) % 40), CASE WHEN i % 3 = 0 THEN NULL ELSE E'tab\\tline\\nback\\\\' || i END FROM generate_series(1, 3000) i;
     INSERT INTO t SELECT 10000 + i, repeat('w', 100000 * i), 'wide' FROM generate_series(1, 3) i;
     CREATE FUNCTION noisy(i int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN IF i % 100 = 0 THEN RAISE NOTICE 'row %', i; END IF; RETURN i; END $$;`,
    "copy",
  );
  proxyDir = await mkdtemp(join(tmpdir(), "holdfast-copy-proxy-"));
  proxy = await rechunkingProxy(join(cluster.socketDir, `.s.PGSQL.${cluster.port}`), join(proxyDir, `.s.PGSQL.${cluster.port}`));
});
afterAll(async () => {
  proxy?.close();
  if (proxyDir) await rm(proxyDir, { recursive: true, force: true });
  await cluster?.destroy();
});

describe("CopyOut", () => {
  it("gives COPY's bytes exactly, rows longer than a read included, and its row count", async () => {
    await withClient(async (c) => {
      const sql = "COPY (SELECT * FROM t ORDER BY id) TO STDOUT";
      const ref = await referenceBytes(c, sql);
      const got = await copyOutBytes(c, sql);
      expect(got.rowCount).toBe(3003);
      expect(got.bytes.length).toBe(ref.length);
      expect(sha(got.bytes)).toBe(sha(ref));
      expect(got.bytes.toString().split("\n").length).toBe(3004);
    });
  });

  it("gives the same bytes when every frame is cut across reads (the server's bytes in pieces of 1–13)", async () => {
    const direct = await client();
    const cut = await client(true);
    try {
      const sql = "COPY (SELECT * FROM t WHERE id <= 400 OR id = 10001 ORDER BY id) TO STDOUT";
      const ref = await referenceBytes(direct, sql);
      const before = proxyWrites;
      const got = await copyOutBytes(cut, sql);
      expect(proxyWrites - before).toBeGreaterThan(ref.length / 13);
      expect(sha(got.bytes)).toBe(sha(ref));
      expect(got.rowCount).toBe(401);
      // The connection is pg's again: an ordinary query after it.
      expect((await cut.query("SELECT 41 + 1 AS n")).rows[0].n).toBe(42);
    } finally {
      await direct.end();
      await cut.end();
    }
  });

  it("skips the notices the server sends between rows", async () => {
    await withClient(async (c) => {
      const notices: string[] = [];
      c.on("notice", (n) => notices.push(n.message ?? ""));
      await c.query("SELECT noisy(i) FROM generate_series(1, 500) i");
      expect(notices).toHaveLength(5); // the function does raise them in this session
      const got = await copyOutBytes(c, "COPY (SELECT noisy(i), i * 2 FROM generate_series(1, 5000) i) TO STDOUT");
      const expected = Array.from({ length: 5000 }, (_, k) => `${k + 1}\t${(k + 1) * 2}\n`).join("");
      expect(got.bytes.toString()).toBe(expected);
      expect(notices).toHaveLength(5);
    });
  });

  it("throws the server's error after rows were sent, and the connection serves the next query", async () => {
    await withClient(async (c) => {
      let rows = 0;
      const read = (async () => {
        for await (const part of c.query(new CopyOut("COPY (SELECT i, 1 / (i - 40000) FROM generate_series(1, 50000) i) TO STDOUT"))) rows += part.toString().split("\n").length - 1;
      })();
      await expect(read).rejects.toThrow(/division by zero/);
      expect(rows).toBeGreaterThan(0);
      expect(rows).toBeLessThan(40000);
      expect((await c.query("SELECT 7 AS n")).rows[0].n).toBe(7);
      // A bad query fails before any row.
      await expect(copyOutBytes(c, "COPY (SELECT nope FROM t) TO STDOUT")).rejects.toThrow(/column "nope" does not exist/);
      expect((await c.query("SELECT 8 AS n")).rows[0].n).toBe(8);
    });
  });

  it("a reader that stops after the first batch leaves the connection usable", async () => {
    await withClient(async (c) => {
      for await (const part of c.query(new CopyOut("COPY (SELECT * FROM t) TO STDOUT"))) {
        expect(part.length).toBeGreaterThan(0);
        break;
      }
      expect((await c.query("SELECT count(*)::int AS n FROM t")).rows[0].n).toBe(3003);
    });
  });

  it("a reader that stops early on a COPY of a billion rows, then ends the client: the server's backend is gone at once, not sending the rest", async () => {
    const c = await client();
    c.on("error", () => undefined);
    const pid = (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
    for await (const part of c.query(new CopyOut("COPY (SELECT generate_series(1, 1000000000)) TO STDOUT"))) {
      expect(part.length).toBeGreaterThan(0);
      break;
    }
    await c.end();
    let alive = 1;
    for (let tries = 0; alive && tries < 100; tries++) {
      alive = (await cluster.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${pid}`))[0]!.n;
      if (alive) await sleep(100);
    }
    expect(alive).toBe(0);
  });

  it("pauses the socket while a slow reader has batches waiting", async () => {
    await withClient(async (c) => {
      const socket = (c as unknown as { connection: { stream: Socket } }).connection.stream;
      let pausedSeen = 0;
      let bytes = 0;
      for await (const part of c.query(new CopyOut("COPY (SELECT i, repeat('p', 1000) FROM generate_series(1, 20000) i) TO STDOUT"))) {
        bytes += part.length;
        if (socket.isPaused()) pausedSeen++;
        await sleep(1);
      }
      expect(bytes).toBe(20000 * 1000 + [...Array(20000).keys()].reduce((n, k) => n + String(k + 1).length + 2, 0));
      expect(pausedSeen).toBeGreaterThan(0);
      expect(socket.isPaused()).toBe(false);
    });
  });

  it("SQL holding more than one COPY fails with a clear error, and the connection serves the next query", async () => {
    await withClient(async (c) => {
      await expect(copyOutBytes(c, "COPY (SELECT 1) TO STDOUT; SELECT 2")).rejects.toThrow(/answered with rows: one COPY statement was expected/);
      expect((await c.query("SELECT 3 AS n")).rows[0].n).toBe(3);
      await expect(copyOutBytes(c, "COPY (SELECT 1) TO STDOUT; COPY t FROM STDIN")).rejects.toThrow(/answered with a COPY FROM STDIN/);
      expect((await c.query("SELECT count(*)::int AS n FROM t")).rows[0].n).toBe(3003);
      await expect(copyOutBytes(c, "COPY (SELECT 1) TO STDOUT; COPY (SELECT 2) TO STDOUT")).rejects.toThrow(/answered with a second COPY/);
      expect((await c.query("SELECT 4 AS n")).rows[0].n).toBe(4);
    });
  });

  it("a query_timeout ends the COPY with its error (the connection is closed), and does not fire after a COPY that finished", async () => {
    const quick = await client(false, { query_timeout: 300 });
    try {
      // The server is done at once; the reader takes longer than the timeout over the rows.
      let rows = "";
      for await (const part of quick.query(new CopyOut("COPY (SELECT i FROM generate_series(1, 10) i) TO STDOUT"))) {
        await sleep(500);
        rows += part.toString();
      }
      expect(rows.split("\n")).toHaveLength(11);
      expect((await quick.query("SELECT 5 AS n")).rows[0].n).toBe(5);
    } finally {
      await quick.end();
    }
    const slow = await client(false, { query_timeout: 300 });
    slow.on("error", () => undefined);
    await expect(copyOutBytes(slow, "COPY (SELECT i, pg_sleep(0.2) FROM generate_series(1, 10) i) TO STDOUT")).rejects.toThrow(/timeout/i);
    await slow.end().catch(() => undefined);
  });

  it("throws when the server ends the connection halfway", async () => {
    const c = await client();
    c.on("error", () => undefined);
    const pid = (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
    let batches = 0;
    const read = (async () => {
      for await (const part of c.query(new CopyOut("COPY (SELECT i, repeat('k', 500) FROM generate_series(1, 2000000) i) TO STDOUT"))) {
        if (++batches === 3) await cluster.query(`SELECT pg_terminate_backend(${pid})`);
        expect(part.length).toBeGreaterThan(0);
      }
    })();
    await expect(read).rejects.toThrow(/terminat|Connection terminated/i);
    await c.end().catch(() => undefined);
  });
});
