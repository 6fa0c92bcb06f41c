import Database from "better-sqlite3";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSqliteSource } from "../../src/transfer/sqlite-source.js";
import { encoderValues, sourceLines } from "../support/export-lines.js";

/**
 * SQLite writes the NDJSON lines of an export itself (sqlite-json-lines.ts): every value, of every
 * storage class in every kind of column, must equal what the JavaScript encoder (values.ts) makes
 * of it, in a real SQLite file.
 */
let dir: string;
let file: string;
const DECLARED = ["INTEGER", "REAL", "TEXT", "BLOB", "NUMERIC", "", "DATETIME", "BOOLEAN", "DECIMAL(10,2)", "VARCHAR(20)"];
const VALUES = [
  "NULL", "0", "-1", "9007199254740991", "9007199254740992", "-9007199254740992", "1152921504606846976", "-9223372036854775808", "9223372036854775807",
  "2.0", "-0.0", "0.1 + 0.2", "1e300", "5e-324", "1.5", "123456789.123", "9e999", "-9e999", "1e21",
  "''", "'é😀'", "char(0)", `'q"uo\\te'`, "char(10) || char(9)", "'12'", "'2026-11-24T10:00:00Z'",
  "x''", "x'00ff10'", "randomblob(40)",
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "holdfast-sqlite-json-"));
  file = join(dir, "app.db");
  const db = new Database(file);
  const columns = DECLARED.map((d, i) => `c${i} ${d}`).join(", ");
  db.exec(`CREATE TABLE kinds (id INTEGER PRIMARY KEY, ${columns});`);
  // Every value in every column: row k holds VALUES[(k + i) % n] in column i.
  for (let k = 0; k < VALUES.length; k++) {
    db.exec(`INSERT INTO kinds VALUES (${k}, ${DECLARED.map((_, i) => VALUES[(k + i) % VALUES.length]).join(", ")})`);
  }
  db.exec(`CREATE TABLE many (id INTEGER PRIMARY KEY, n NUMERIC, f REAL, t TEXT, u);
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 30000)
    INSERT INTO many SELECT i, CASE i % 3 WHEN 0 THEN i * 1.25 WHEN 1 THEN i ELSE i / 7.0 END, i / 3.0, 'row ' || i || char(34), CASE WHEN i % 1000 = 0 THEN randomblob(8) ELSE i END FROM s;`);
  db.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("NDJSON lines written by SQLite", () => {
  it("hold the values the JavaScript encoder gives, for every storage class in every kind of column", async () => {
    const source = await openSqliteSource(file);
    try {
      const expected = await encoderValues(source, "kinds");
      const got = await sourceLines(source, "kinds");
      expect(got!.rows).toBe(VALUES.length);
      expect(got!.lines.map((l) => JSON.parse(l) as unknown)).toEqual(expected);
      // A few spelled out, so both being wrong the same way shows too (the columns' affinity converts some values as they are stored).
      const row = (k: number) => (expected as unknown[][])[k]!;
      expect(row(6)[1]).toBe("1152921504606846976"); // a big integer in an INTEGER column: its digits
      expect(row(3)[4]).toEqual({ $t: "integer", v: "1152921504606846976" }); // in a BLOB column: tagged
      expect(row(0)[4]).toEqual({ $t: "integer", v: 9007199254740991 });
      expect(row(4)[6]).toEqual({ $t: "float", v: 2 }); // 2.0 in an untyped column: it would read back as an integer
      expect(row(8)[9]).toEqual({ $t: "float", v: "Infinity" }); // in a DECIMAL column
      expect(row(24)[4]).toBe("AP8Q"); // x'00ff10' in a BLOB column: base64
      expect(row(17)[10]).toEqual({ $t: "bytes", v: "" }); // x'' in a VARCHAR column: tagged
      expect(row(14)[10]).toBe("\n\t");
      // With a condition, and a bad one refused with the table named.
      expect((await sourceLines(source, "kinds", "id > 3 AND id < 20"))!.lines.map((l) => JSON.parse(l) as unknown)).toEqual(await encoderValues(source, "kinds", "id > 3 AND id < 20"));
      await expect(sourceLines(source, "kinds", "nope = 1")).rejects.toMatchObject({ code: "USAGE", message: expect.stringMatching(/cannot read kinds where nope = 1/) });
    } finally {
      await source.close();
    }
  });

  it("keep 30,000 rows equal to the JavaScript encoder's across chunks, BLOB rows included", async () => {
    const source = await openSqliteSource(file);
    try {
      const got = await sourceLines(source, "many");
      expect(got!.rows).toBe(30000);
      expect(got!.lines.map((l) => JSON.parse(l) as unknown)).toEqual(await encoderValues(source, "many"));
    } finally {
      await source.close();
    }
  });
});
