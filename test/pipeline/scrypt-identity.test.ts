import { describe, expect, it } from "vitest";
import { Decrypter, Encrypter } from "age-encryption";
import { openWithPassphrase, sealWithPassphrase } from "../../src/pipeline/passphrase.js";

/** The native scrypt identity opens what age's own passphrase recipient seals, and nothing else. */
describe("passphrase-sealed age files on Node's scrypt", () => {
  it("opens a file sealed by age-encryption, refuses a wrong passphrase as WRONG_KEY", async () => {
    const sealed = await sealWithPassphrase("AGE-SECRET-KEY-1EXAMPLE\n", "right horse", 10);
    expect(await openWithPassphrase(sealed, "right horse", "key")).toBe("AGE-SECRET-KEY-1EXAMPLE\n");
    await expect(openWithPassphrase(sealed, "wrong horse", "key")).rejects.toMatchObject({ code: "WRONG_KEY" });
  });

  it("refuses a work factor above 2^20 before spending it", async () => {
    const e = new Encrypter();
    e.setPassphrase("p");
    e.setScryptWorkFactor(10);
    const text = Buffer.from(await e.encrypt("x")).toString("latin1").replace(/(-> scrypt \S+) 10\n/, "$1 21\n");
    await expect(openWithPassphrase(Buffer.from(text, "latin1"), "p", "key")).rejects.toThrow(/work factor is too high/);
  });

  it("what it opens, age-encryption's own identity opens too", async () => {
    const sealed = await sealWithPassphrase("same bytes", "pw", 10);
    const d = new Decrypter();
    d.addPassphrase("pw");
    expect(await d.decrypt(new Uint8Array(sealed), "text")).toBe(await openWithPassphrase(sealed, "pw", "key"));
  });
});
