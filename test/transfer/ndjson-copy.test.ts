import { describe, expect, it } from "vitest";
import type { ExportColumn, NormalizedType } from "../../src/transfer/format.js";
import { ndjsonToCopy } from "../../src/transfer/ndjson-copy.js";
import { pgConversion } from "../../src/transfer/pg-conversions.js";
import { copyField } from "../../src/transfer/pg-copy.js";
import { copyTextFields } from "../../src/transfer/pg-copy-text.js";
import { decodeValue, type DecodedValue } from "../../src/transfer/values.js";

/**
 * The NDJSON → COPY transcoder against the decoding path it stands in for (decodeValue → the
 * PostgreSQL conversion → copyField): for every value, either the very same field, or the line is
 * left to that path. Values are written as both exporters write them (JSON.stringify, and
 * PostgreSQL's json_build_array with its spaces).
 */

const col = (type: NormalizedType, declaredType = ""): ExportColumn => ({ name: "c", declaredType, type, nullable: true });

type Case = { from: ExportColumn; to: ExportColumn; tokens: string[] };

const STRINGS = ['"plain"', '""', '"tab\\there"', '"new\\nline\\r"', '"back\\\\slash"', '"q\\"uote\\/"', '"\\b\\f"', '"\\u00e9\\u0001"', '"\\ud83d\\ude00"', '"é€😀"', '"\\\\N"', '"  spaced  "'];
const INTEGERS = ["0", "-1", "7", "32767", "32768", "-2147483648", "2147483648", "9007199254740991", "-9007199254740991", "123456789012345", "1234567890123456", '"9223372036854775807"', '"-9223372036854775808"', "-0", "1e3", "1.5", '"12"'];
const FLOATS = ["0", "1.5", "-2.25", "0.1", "1e+300", "1e300", "5e-324", "-0", "123456789012345678", '"NaN"', '"Infinity"', '"-Infinity"', "1.0", "100",
  "897.86", "0.000001", "0.0000001", "-0.000012345", "0.10", "123456789012.345", "1234567890123.456", "0.1234567890123456", "99999999999999.9", "0.30000000000000004", "0.10000000000000001", "123456789.12345679", "4503599627370496.5", "1.7976931348623157e308", "12.5e-1"];
const TIMES = ['"2026-11-24T10:00:00.123456Z"', '"2026-11-24T10:00:00"', '"2026-11-24 10:00:00+05:30"', '"infinity"', '"-infinity"', '"0044-03-15 12:00:00 BC"', '" 2026-01-01"', '"1700000000"', '"12:00"', "1700000000", "1700000000000", "-86400", "1e20", "1700000000.5", "99999999999999",
  '"2026-01-01 BC"', '"2026-01-01T10:00:00+0530"', '"2026-01-01T10:00+05"', '"2026-01-01t10:00:00z"', '"2026-1-01"', '"12026-01-01"', '"2026-01-01T10:00:00.Z"', '"2026-01-01 10:00:00 bc"', '"2026-01-01T10:00:00+05:3"', '"2026-01-01T1"', '"2026-01-01 "', '"2026-01-01BC"'];

const CASES: Case[] = [
  { from: col("text", "text"), to: col("text", "text"), tokens: STRINGS },
  { from: col("any"), to: col("text", "text"), tokens: [...STRINGS, "12", "1.5", '{"$t":"bytes","v":"AAE="}'] },
  { from: col("uuid", "uuid"), to: col("uuid", "uuid"), tokens: ['"0e37df36-f698-11e6-8dd4-cb9ced3df976"'] },
  { from: col("other", "inet"), to: col("other", "inet"), tokens: ['"10.0.0.1/32"', '"{1,2,\\"a b\\"}"'] },
  { from: col("integer", "bigint"), to: col("integer", "bigint"), tokens: INTEGERS },
  { from: col("integer", "integer"), to: col("integer", "integer"), tokens: INTEGERS },
  { from: col("integer", "smallint"), to: col("integer", "smallint"), tokens: INTEGERS },
  { from: col("numeric", "NUMERIC"), to: col("integer", "bigint"), tokens: INTEGERS },
  { from: col("decimal", "numeric(12,2)"), to: col("decimal", "numeric"), tokens: ['"12.50"', '"-0.01"', '"NaN"', '" 1.5 "', '"1e5"', '"-.5"', '"5."', '"."', '"abc"', '"+3"', '"1E-3"'] },
  { from: col("numeric", "NUMERIC"), to: col("decimal", "numeric"), tokens: [...INTEGERS, ...FLOATS] },
  { from: col("float", "double precision"), to: col("float", "double precision"), tokens: FLOATS },
  { from: col("integer", "bigint"), to: col("float", "double precision"), tokens: INTEGERS },
  { from: col("float", "double precision"), to: col("float", "real"), tokens: FLOATS },
  { from: col("boolean", "boolean"), to: col("boolean", "boolean"), tokens: ["true", "false", "1"] },
  { from: col("integer", "BOOLEAN"), to: col("boolean", "boolean"), tokens: ["0", "1", "2", "-0", '"t"', "true"] },
  { from: col("timestamptz", "timestamp with time zone"), to: col("timestamptz", "timestamp with time zone"), tokens: TIMES },
  { from: col("text", "DATETIME"), to: col("timestamptz", "timestamp with time zone"), tokens: TIMES },
  { from: col("integer", "DATETIME"), to: col("timestamp", "timestamp without time zone"), tokens: TIMES },
  { from: col("timestamp", "timestamp without time zone"), to: col("timestamp", "timestamp without time zone"), tokens: TIMES },
  { from: col("date", "date"), to: col("date", "date"), tokens: ['"2026-11-24"', '"infinity"', '"20261124"', '" 12 "', '"0044-03-15 BC"'] },
  { from: col("bytes", "bytea"), to: col("bytes", "bytea"), tokens: ['""', '"AAEC/w=="', '"3q2+7w"', '"not base64!"', '"AA\\u0045C"'] },
  { from: col("text", "TEXT"), to: col("bytes", "bytea"), tokens: ['"abc"'] },
  { from: col("time", "time"), to: col("time", "time"), tokens: ['"10:00:00.5"'] },
];

/** The field the decoding path writes, or undefined when it refuses the value (the line goes to its error or reject). */
function expected(c: Case, token: string): string | undefined {
  try {
    const sample = [decodeValue(c.from.type, JSON.parse(token), "t")];
    const decoded = decodeValue(c.from.type, JSON.parse(token), "t");
    return copyField(decoded === null ? null : pgConversion(c.from, c.to, sample).convert(decoded));
  } catch {
    return undefined;
  }
}

function transcodeOne(c: Case, line: string) {
  let sample: DecodedValue[] = [];
  try {
    sample = [decodeValue(c.from.type, JSON.parse(line)[1], "t")];
  } catch {
    // a value the decoding path refuses: no sample
  }
  const t = ndjsonToCopy([{ from: c.from, to: c.to, conversion: pgConversion(c.from, c.to, sample), position: 1 }], 3, "t");
  return t(Buffer.from(`${line}\n`));
}

// SQLite text in a column of another affinity is tagged: {"$t":"text","v":"…"} (compact, as both
// exporters write it), also with spaces, and other tags, which the decoding path opens.
for (const c of CASES) {
  if (c.from.type === "json") continue;
  const strings = c.tokens.filter((t) => t.startsWith('"'));
  c.tokens.push(...strings.map((t) => `{"$t":"text","v":${t}}`), ...strings.slice(0, 2).map((t) => `{"$t": "text", "v": ${t}}`), '{"$t":"text","v":12}', '{"$t":"integer","v":"12"}', '{"$t":"text","v":"a","x":1}', '{"$t":"text","v":null}');
}

describe("NDJSON → COPY text", () => {
  it("writes every value exactly as the decoding path does, or leaves its line to it", () => {
    let fast = 0;
    let total = 0;
    for (const c of CASES) {
      for (const token of c.tokens) {
        for (const line of [`[1,${token},"x"]`, `[1, ${token}, "x"]`]) {
          total++;
          const want = expected(c, token);
          const out = transcodeOne(c, line);
          const where = `${c.from.type}/${c.from.declaredType} → ${c.to.type}/${c.to.declaredType}: ${token}`;
          if (out.left.length) {
            expect(out.left, where).toEqual([[0, line]]);
            expect(out.copy.length, where).toBe(0);
            continue;
          }
          fast++;
          expect(want, `${where} is refused by the decoding path, not by the transcoder`).toBeDefined();
          expect(out.copy.toString("utf8"), where).toBe(Buffer.from(`${want}\n`).toString("utf8"));
          expect(out.rows).toBe(1);
        }
      }
    }
    // The ordinary values go the fast way (a transcoder that left every line would pass the checks above).
    expect(fast / total).toBeGreaterThan(0.6);
  });

  it("agrees with the decoding path on 6,000 random strings, numbers and dates", () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T,>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const chars = ["a", "Z", "0", " ", "\t", "\n", "\r", "\\", '"', "/", "\b", "\f", "\u0001", "é", "€", "😀", "\ud800", "\x7f"];
    const values: [Case, string][] = [];
    for (let i = 0; i < 2000; i++) {
      const text = Array.from({ length: Math.floor(random() * 12) }, () => pick(chars)).join("");
      values.push([CASES[0]!, JSON.stringify(text)]);
      const magnitude = 10 ** Math.floor(random() * 40 - 20);
      const n = (random() - 0.5) * magnitude;
      values.push([pick([CASES[9]!, CASES[10]!, CASES[12]!]), JSON.stringify(pick([n, Math.round(n), Math.round(random() * 2 ** 53)]))]);
      // Short decimals, as amounts are: 1 to 17 significant digits, some with leading zeros after the point.
      const places = Math.floor(random() * 9);
      const decimal = (Math.round((random() - 0.5) * 10 ** Math.floor(random() * 12)) / 10 ** places).toFixed(places);
      values.push([pick([CASES[9]!, CASES[10]!, CASES[12]!]), pick([decimal, decimal.replace(/0+$/, "").replace(/\.$/, ""), String(Number(decimal))])]);
      const ms = Math.round((random() - 0.3) * 4e12);
      values.push([pick([CASES[15]!, CASES[16]!, CASES[17]!]), pick([JSON.stringify(new Date(ms).toISOString()), String(ms), String(Math.round(ms / 1000))])]);
      values.push([pick([CASES[1]!, CASES[16]!, CASES[17]!, CASES[9]!]), `{"$t":"text","v":${pick([JSON.stringify(text), JSON.stringify(new Date(ms).toISOString())])}}`]);
    }
    let fast = 0;
    for (const [c, token] of values) {
      const line = `[1,${token},"x"]`;
      const out = transcodeOne(c, line);
      if (out.left.length) continue;
      fast++;
      // Compared as the bytes that reach the server (a lone surrogate becomes U+FFFD either way).
      expect(out.copy.toString("utf8"), `${c.to.type}: ${token}`).toBe(Buffer.from(`${expected(c, token)}\n`).toString("utf8"));
    }
    expect(fast).toBeGreaterThan(values.length / 2);
  });

  it("takes ordinary values without the decoding path", () => {
    const ordinary: [Case, string][] = [
      [CASES[0]!, '"plain"'], [CASES[0]!, '"tab\\there"'], [CASES[4]!, "-2147483648"], [CASES[8]!, '"12.50"'], [CASES[10]!, "1.5"],
      [CASES[13]!, "true"], [CASES[14]!, "1"], [CASES[15]!, '"2026-11-24T10:00:00.123456Z"'], [CASES[17]!, "1700000000000"], [CASES[19]!, '"2026-11-24"'], [CASES[20]!, '"AAEC/w=="'],
      [CASES[17]!, '{"$t":"text","v":"2026-11-24T10:00:00.123Z"}'], [CASES[1]!, '{"$t":"text","v":"tab\\there"}'],
    ];
    for (const [c, token] of ordinary) expect(transcodeOne(c, `[1, ${token}, "x"]`), token).toMatchObject({ left: [], rows: 1, decoded: 0 });
    // And the count is of values that did take it.
    expect(transcodeOne(CASES[0]!, '[1, "\\u00e9", "x"]')).toMatchObject({ left: [], rows: 1, decoded: 1 });
  });

  it("hands a jsonb document over as its JSON text: the same document, numbers with every digit; {$json} wrappers, numbers alone and json columns take the decoding path", () => {
    const from = col("json", "jsonb");
    const to = col("json", "jsonb");
    const docs = ['{"a": 1, "b": [true, null, "x\\ty\\\\z"], "c": {"d": "é"}}', "[1,2,[3]]", '"text"', "true", '{"n": 12345678901234567890.5}', '{"s": "\\u0000"}'];
    const t = ndjsonToCopy([{ from, to, conversion: pgConversion(from, to, []), position: 0 }], 1, "t");
    for (const doc of docs) {
      const out = t(Buffer.from(`[${doc}]\n`));
      expect(out.left, doc).toEqual([]);
      const [field] = copyTextFields(out.copy.toString("utf8").slice(0, -1));
      expect(field).toBe(doc); // the text itself, COPY-escaped on the way and read back
    }
    // Wrappers and numbers alone: the decoding path's text (the wrapper opened, the number as JavaScript prints it).
    const decoded: [string, string][] = [['{"$json": null}', "null"], ['{ "$json" : {"$json": 1}}', '{"$json":1}'], ["12.50", "12.5"]];
    for (const [doc, text] of decoded) expect(t(Buffer.from(`[${doc}]\n`)).copy.toString()).toBe(`${text}\n`);
    const json = col("json", "json");
    const plain = ndjsonToCopy([{ from, to: json, conversion: pgConversion(from, json, []), position: 0 }], 1, "t");
    // A json column keeps its text: the decoding path's, compact.
    expect(plain(Buffer.from('[{"a": 1}]\n')).copy.toString()).toBe('{"a":1}\n');
  });

  it("leaves every line that is not a well-formed row of the table's width, and only those", () => {
    const c = CASES[0]!;
    const t = ndjsonToCopy([{ from: c.from, to: c.to, conversion: pgConversion(c.from, c.to, []), position: 1 }, { from: c.from, to: c.to, conversion: pgConversion(c.from, c.to, []), position: 0 }], 2, "t");
    const lines = ['["a","b"]', '["a"]', '["a","b","c"]', '["a" "b"]', '["a","b"', '["a","b"] x', "", "[]", '["a\tb","c"]', '["a","b\\x"]', '["\\u12","b"]', '[nul,"b"]', '[01,"b"]', '[{"k":1,},"b"]', '[{"k" 1},"b"]', '[[1,],"b"]', '["é","ü"]', '  [ "a" , null ]  '];
    const out = t(Buffer.from(lines.map((l) => `${l}\n`).join("")));
    expect(out.left.map(([n]) => n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(out.left.map(([, l]) => l)).toEqual(lines.slice(1, 16));
    expect(out.rows).toBe(3);
    // Columns in the written order (the second first), NULL as \N.
    expect(out.copy.toString("utf8")).toBe("b\ta\nü\té\n\\N\ta\n");
  });
});
