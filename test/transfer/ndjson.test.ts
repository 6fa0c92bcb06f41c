import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ndjsonChunks, parseChunk } from "../../src/transfer/ndjson.js";

function expectation(text: string, rows: number) {
  const bytes = Buffer.from(text);
  return { bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex"), rows };
}

async function* chunks(text: string, size: number): AsyncIterable<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function read(text: string, rows: number, size = 7): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const chunk of ndjsonChunks(chunks(text, size), expectation(text, rows), "t.ndjson")) out.push(...parseChunk(chunk, "t.ndjson"));
  return out;
}

describe("ndjsonChunks", () => {
  it("parses lines split anywhere across chunks (multi-byte characters too), in order", async () => {
    const rows = [[1, "a\nb", null], [2, "é€😀", { $json: null }], [3, "", [1, 2]]];
    const text = rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
    for (const size of [1, 3, 7, 1 << 16]) expect(await read(text, 3, size)).toEqual(rows);
  });

  it("names the first line that is not JSON, even one that would parse inside a joined batch", async () => {
    await expect(read('[1]\n[2]\n1,2\n[4]\n', 4, 1 << 16)).rejects.toMatchObject({ code: "CORRUPTED", message: "t.ndjson: line 3 is not JSON" });
    await expect(read('[1]\n\n[3]\n', 3, 1 << 16)).rejects.toMatchObject({ code: "CORRUPTED", message: "t.ndjson: line 2 is not JSON" });
    await expect(read('[1]\n[2]\n[3', 3, 2)).rejects.toMatchObject({ code: "CORRUPTED", message: "t.ndjson ends inside a line" });
  });

  it("checks the row count and the SHA-256 once the stream ends", async () => {
    await expect(read("[1]\n[2]\n", 3)).rejects.toMatchObject({ code: "CORRUPTED", message: "t.ndjson holds 2 rows, its manifest says 3" });
    const text = "[1]\n[2]\n";
    const wrong = { ...expectation(text, 2), sha256: "0".repeat(64) };
    const iterate = async () => {
      for await (const _ of ndjsonChunks(chunks(text, 4), wrong, "t.ndjson")) void _;
    };
    await expect(iterate()).rejects.toMatchObject({ code: "CORRUPTED", message: expect.stringContaining("SHA-256") });
  });
});
