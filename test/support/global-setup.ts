import { execFileSync } from "node:child_process";

/** Tests drive the built CLI (dist/), exactly what users run: build once before the suite. */
export default function setup(): void {
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
}
