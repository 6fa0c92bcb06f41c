import { defineConfig } from "vitest/config";
import { SlowFirstSequencer } from "./test/support/sequencer.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Real databases and servers: keep parallelism modest on a 2-core machine.
    maxWorkers: 2,
    globalSetup: ["test/support/global-setup.ts"],
    sequence: { sequencer: SlowFirstSequencer },
  },
});
