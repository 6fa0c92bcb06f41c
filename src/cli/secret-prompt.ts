import { createInterface } from "node:readline/promises";
import { Writable } from "node:stream";

/** Ask for a secret on the terminal without echoing it (stdin must be a TTY). */
export async function askSecret(question: string): Promise<string> {
  process.stderr.write(question);
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: process.stdin, output: silent, terminal: true });
  try {
    return await rl.question("");
  } finally {
    rl.close();
    process.stderr.write("\n");
  }
}
