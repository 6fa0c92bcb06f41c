import { createInterface } from "node:readline/promises";
import { Writable } from "node:stream";

/** Ask for a secret on the terminal without echoing it (stdin must be a TTY). */
export async function askSecret(question: string): Promise<string> {
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  // The interface puts the terminal in raw mode (no echo) first: only then is the prompt shown,
  // so an answer typed or pasted the moment it appears is never echoed.
  const rl = createInterface({ input: process.stdin, output: silent, terminal: true });
  process.stderr.write(question);
  try {
    return await rl.question("");
  } finally {
    rl.close();
    process.stderr.write("\n");
  }
}
