import { spawn } from "node:child_process";
import { CLI } from "./cli.js";

/** Run the CLI on a real pseudo-terminal (script(1)), typing each answer once its (distinct) prompt shows. */
export function onTerminal(args: string[], env: Record<string, string | undefined>, answers: [prompt: string, answer: string][]): Promise<{ code: number; screen: string }> {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(" ");
  const full: Record<string, string | undefined> = { ...process.env, ...env, TERM: "xterm" };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], { env: full as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
    let screen = "";
    let typed = 0;
    child.stdout.on("data", (d: Buffer) => {
      screen += d.toString();
      const next = answers[typed]; // prompts are distinct: each is answered once it shows
      if (next && screen.includes(next[0])) {
        typed++;
        child.stdin.write(`${next[1]}\r`);
      }
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, screen }));
  });
}
