import { describe, expect, it } from "vitest";
import { copyField } from "../../src/transfer/pg-copy.js";
import { copyTextBatches, copyTextFields } from "../../src/transfer/pg-copy-text.js";

async function* chunks(text: string, size: number): AsyncIterable<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe("COPY text format", () => {
  it("reads back what copyField writes: NULL apart from '' and from the text \\N, every escape", () => {
    const values = [null, "", "\\N", "tab\there", "new\nline\r\n", "back\\slash\\", "\b\f\v", "é€😀"];
    expect(copyTextFields(values.map(copyField).join("\t"))).toEqual(values);
    expect(copyTextFields("\\101\\x42\\q")).toEqual(["ABq"]);
    expect(copyTextFields(copyField(Buffer.from([0, 255])) as string)).toEqual(["\\x00ff"]);
  });

  it("splits rows across chunks of any size and refuses output that ends inside a row", async () => {
    const text = "1\ta\\tb\n2\t\\N\n3\té€\n";
    const rows = [["1", "a\tb"], ["2", null], ["3", "é€"]];
    for (const size of [1, 2, 5, 1 << 16]) {
      const out: unknown[] = [];
      for await (const batch of copyTextBatches(chunks(text, size), (f) => f)) out.push(...batch);
      expect(out).toEqual(rows);
    }
    const partial = async () => {
      for await (const _ of copyTextBatches(chunks("1\ta\n2", 3), (f) => f)) void _;
    };
    await expect(partial()).rejects.toThrow(/ended inside a row/);
  });
});
