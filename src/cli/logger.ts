import pino, { type Logger } from "pino";
import { Writable } from "node:stream";
import { redact } from "../errors.js";

/**
 * JSON lines (one object per line, secrets redacted) when not on a TTY or when asked;
 * short human lines on a TTY. Logs go to stderr so stdout stays for results.
 */
export function createLogger(format: "json" | "text" | undefined, level: string): Logger {
  const useJson = format === "json" || (format === undefined && !process.stderr.isTTY);
  const destination = useJson ? jsonSink() : textSink();
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

function jsonSink(): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      process.stderr.write(redact(chunk.toString()));
      done();
    },
  });
}

const LEVELS: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

function textSink(): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) {
        if (!line) continue;
        try {
          const { level, time, msg, pid: _pid, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
          const extra = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
          const clock = typeof time === "string" ? time.slice(11, 19) : "";
          process.stderr.write(redact(`${clock} ${LEVELS[level as number] ?? level} ${String(msg)}${extra ? "  " + extra : ""}\n`));
        } catch {
          process.stderr.write(redact(line) + "\n");
        }
      }
      done();
    },
  });
}
