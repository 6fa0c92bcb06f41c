import { describe, expect, it } from "vitest";
import { redact } from "../src/errors.js";

describe("redact: whole secret values, never fragments of other words", () => {
  it("keeps messages readable when the passphrase is a common word", () => {
    expect(redact("wrong passphrase for pass", ["pass"])).toBe("wrong passphrase for ***");
    expect(redact("the horse ran; horsepower", ["horse"])).toBe("the *** ran; horsepower");
  });

  it("still hides the value wherever it stands on its own", () => {
    expect(redact("postgres://app:hunter2@db/app failed", ["hunter2"])).toBe("postgres://app:***@db/app failed");
    expect(redact('"correct horse battery staple"', ["correct horse battery staple"])).toBe('"***"');
    expect(redact("key=p@ss.w*rd!", ["p@ss.w*rd!"])).not.toContain("p@ss.w*rd!");
    expect(redact("AGE-SECRET-KEY-1QQQ and token: abc", [])).toBe("AGE-SECRET-KEY-*** and token: ***");
  });
});
