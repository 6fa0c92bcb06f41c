import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";

export interface Measured {
  wallMs: number;
  peakRssMb: number;
  code: number;
}

/** Run a command, sampling the peak RSS (VmHWM) of the process it starts until it exits. */
export function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let peak = 0;
    const timer = setInterval(async () => {
      const status = await readFile(`/proc/${child.pid}/status`, "utf8").catch(() => "");
      const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      if (kb > peak) peak = kb;
    }, 20);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearInterval(timer);
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${stderr.slice(-500)}`));
      else resolve({ wallMs, peakRssMb: peak / 1024, code: code ?? 0 });
    });
  });
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
