import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encoderValues, sourceLines } from "../support/export-lines.js";
import { startCluster, type PgCluster } from "../support/pg-cluster.js";
import { openPgSource } from "../../dist/transfer/pg-source.js";

/**
 * An export of PostgreSQL rewrites COPY's text into NDJSON bytes (copy-ndjson.ts): every value must
 * equal what the JavaScript encoder (values.ts) makes of the same column's text form.
 */
let cluster: PgCluster;
beforeAll(async () => {
  cluster = await startCluster();
  await cluster.query("CREATE DATABASE edges");
  await cluster.query(
    `CREATE DOMAIN positive AS int CHECK (VALUE > 0);
     CREATE TYPE mood AS ENUM ('sad', 'ok');
     CREATE TABLE edges (
       id bigint PRIMARY KEY, small smallint, dom positive, o oid, price numeric, r real, d double precision, ok boolean,
       fixed char(5), name varchar(20), t text, photo bytea, seen timestamptz, local timestamp, born date, at time, atz timetz,
       doc jsonb, ip inet, net cidr, span interval, tags text[], m mood, u uuid, "odd ""name""" text);
     INSERT INTO edges VALUES
       (1, -32768, 1, 4000000000, 'NaN', 'NaN', '-Infinity', true, 'ab', 'x', E'tab\\there\\nnew "q" \\\\ back \\u0001 é ✓ 😀', '\\x00ff10',
        '2026-03-01 12:00:00.123456+05', '2026-03-01 12:00:00.5', '2000-02-29', '23:59:59.999', '10:00+02', '{"a": [1, 2.50, "z"], "n": null, "big": 12345678901234567890}',
        '192.168.1.1', '10.0.0.0/8', '1 day 02:03:04', '{"a b",NULL,"c\\"d"}', 'ok', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'x'),
       (9223372036854775807, 32767, 2, 0, '-0.500', 1.1, 1e-7, false, '', '', '', '\\x', 'infinity', '-infinity', 'infinity', '00:00', '00:00+00', 'null',
        '::1', '::/0', '-1 mons', '{}', 'sad', NULL, ''),
       (-9223372036854775808, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0044-03-15 10:00:00+00 BC', '0044-03-15 10:00:00 BC', '0044-03-15 BC', NULL, NULL, '{"$json": 1}',
        NULL, NULL, NULL, NULL, NULL, NULL, NULL),
       (9007199254740991, NULL, NULL, NULL, 1e30, 3.4e38, 1.7976931348623157e308, NULL, NULL, NULL, NULL, decode(repeat('ff', 200), 'hex'), '12026-01-01 00:00:00+00', '2026-01-01 00:00:00', NULL, NULL, NULL,
        '[{"$json": 2}, "$json", 1.5e300]', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
       (-9007199254740992, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '"$json"', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
     CREATE TABLE kept_json (id int PRIMARY KEY, raw json);
     INSERT INTO kept_json VALUES (1, E'{"a":\\n 1}');`,
    "edges",
  );
});
afterAll(async () => {
  await cluster?.destroy();
});

describe("NDJSON lines rewritten from COPY text", () => {
  it("hold the values the JavaScript encoder gives, for every type and edge value", async () => {
    const source = await openPgSource(cluster.url("edges"));
    try {
      const expected = await encoderValues(source, "edges");
      const got = await sourceLines(source, "edges");
      expect(got!.rows).toBe(5);
      expect(got!.lines.map((l) => JSON.parse(l))).toEqual(expected);
      // A few values spelled out, so both encoders being wrong the same way shows too.
      const [first, second, third] = expected as unknown[][];
      expect(first!.slice(0, 12)).toEqual([1, -32768, 1, 4000000000, "NaN", "NaN", "-Infinity", true, "ab   ", "x", 'tab\there\nnew "q" \\ back \u0001 é ✓ 😀', "AP8Q"]);
      expect(first!.slice(12, 17)).toEqual(["2026-03-01T07:00:00.123456Z", "2026-03-01T12:00:00.5", "2000-02-29", "23:59:59.999", "10:00:00+02"]);
      expect(first!.slice(18, 22)).toEqual(["192.168.1.1", "10.0.0.0/8", "P1DT2H3M4S", '{"a b",NULL,"c\\"d"}']);
      expect(second!.slice(0, 1)).toEqual(["9223372036854775807"]);
      expect(second!.slice(12, 15)).toEqual(["infinity", "-infinity", "infinity"]);
      expect(second![17]).toEqual({ $json: null });
      expect(third!.slice(12, 15)).toEqual(["0044-03-15 10:00:00+00 BC", "0044-03-15 10:00:00 BC", "0044-03-15 BC"]);
      expect(third![17]).toEqual({ $json: { $json: 1 } });
      // With a condition, and a bad one refused with the table named.
      expect((await sourceLines(source, "edges", "id > 0 AND id < 100"))!.lines.map((l) => JSON.parse(l))).toEqual(await encoderValues(source, "edges", "id > 0 AND id < 100"));
      await expect(sourceLines(source, "edges", "nope = 1")).rejects.toMatchObject({ code: "USAGE", message: expect.stringMatching(/cannot read edges where nope = 1/) });
      // The snapshot is still usable after the refused condition.
      expect((await sourceLines(source, "edges"))!.rows).toBe(5);
    } finally {
      await source.close();
    }
  });

  it("give a json column (its own text, newlines and all) the JavaScript encoder's value, on one line", async () => {
    const source = await openPgSource(cluster.url("edges"));
    try {
      const got = await sourceLines(source, "kept_json");
      expect(got).toEqual({ lines: ['[1,{"a":1}]'], rows: 1 });
      expect(await encoderValues(source, "kept_json")).toEqual([[1, { a: 1 }]]);
    } finally {
      await source.close();
    }
  });

  it("keep 20,000 rows of every kind, and rows longer than several chunks, equal to the JavaScript encoder's across COPY's chunks", async () => {
    await cluster.query(
      `CREATE TABLE many AS SELECT i AS id, (i * 7919) % 1000003 - 500000 AS n, i / 7.0 AS num, (i / 3.0)::float8 AS f, i % 2 = 0 AS ok,
         repeat(E'x"\\\\\\t\\n', i % 5) || chr(1 + i % 30) || 'é' AS t,
         (ARRAY[NULL, E'\\\\N', E'\\\\Nx', 'N', ''])[1 + i % 5] AS nullish, decode(md5(i::text), 'hex') AS raw,
         timestamptz '2026-01-01 00:00:00+00' + i * interval '1.5 seconds' AS tz, jsonb_build_object('i', i, 's', E'q"\\\\') AS doc, (ARRAY[NULL, E'\\\\N', E'\\\\Nx', 'N', ''])[1 + i % 5] AS last_nullish FROM generate_series(1, 20000) i`,
      "edges",
    );
    // Rows of 340 kB and more span several of COPY's chunks, a chunk then holding no row's end.
    await cluster.query(`CREATE TABLE wide AS SELECT i AS id, repeat(md5(i::text) || E'\\t"', i * 10000) AS t FROM generate_series(0, 3) i`, "edges");
    const source = await openPgSource(cluster.url("edges"));
    try {
      const got = await sourceLines(source, "many");
      expect(got!.rows).toBe(20000);
      expect(got!.lines.map((l) => JSON.parse(l))).toEqual(await encoderValues(source, "many"));
      // A text of backslash and N is a value, not NULL, in the middle of a row and at its end.
      const nullish = (at: number) => new Set(got!.lines.map((l) => (JSON.parse(l) as unknown[]).at(at)));
      expect(nullish(6)).toEqual(new Set([null, "\\N", "\\Nx", "N", ""]));
      expect(nullish(-1)).toEqual(new Set([null, "\\N", "\\Nx", "N", ""]));
      const wide = await sourceLines(source, "wide");
      expect(wide!.lines.map((l) => (JSON.parse(l) as [number, string])[1].length)).toEqual([0, 340000, 680000, 1020000]);
      expect(wide!.lines.map((l) => JSON.parse(l))).toEqual(await encoderValues(source, "wide"));
    } finally {
      await source.close();
    }
  });
});
