import cliProgress from "cli-progress";
import type { ProgressHandle } from "../commands/context.js";

const NOOP: ProgressHandle = { update: () => undefined, stop: () => undefined };

function mb(n: number): string {
  return (n / 1048576).toFixed(1);
}

/** Rows done (of a total when known), e.g. an import's rows of one table. */
function rowsBar(label: string, total?: number): ProgressHandle {
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: total ? `${label} [{bar}] {value}/{total} rows` : `${label} {value} rows`, hideCursor: true, clearOnComplete: true, fps: 5 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total ?? 0, 0);
  let stopped = false;
  return {
    update: (done: number) => bar.update(done),
    stop() {
      if (!stopped) bar.stop();
      stopped = true;
    },
  };
}

/** A bar on a TTY (bytes, rate, ETA when the total is known, rows when given); nothing otherwise. */
export function progressFactory(enabled: boolean) {
  return (label: string, total?: number, unit: "bytes" | "rows" = "bytes"): ProgressHandle => {
    if (!enabled) return NOOP;
    if (unit === "rows") return rowsBar(label, total);
    const started = Date.now();
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: total ? `${label} [{bar}] {percentage}% {doneMb}/{totalMb} MB {rate} MB/s ETA {eta}s{rows}` : `${label} {doneMb} MB {rate} MB/s{rows}`,
        hideCursor: true,
        clearOnComplete: true,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total ?? 1, 0, { doneMb: "0.0", totalMb: mb(total ?? 0), rate: "0.0", rows: "" });
    let stopped = false;
    return {
      update(done: number, rows?: number) {
        const seconds = Math.max((Date.now() - started) / 1000, 0.001);
        bar.update(total ? done : 0, { doneMb: mb(done), totalMb: mb(total ?? 0), rate: mb(done / seconds), rows: rows === undefined ? "" : `, ${rows} rows` });
      },
      stop() {
        if (!stopped) bar.stop();
        stopped = true;
      },
    };
  };
}
