// A separate writer process: inserts rows continuously into a SQLite database until stopped, as an
// application would while a backup runs. Prints "ready" once it is writing.
//   node sqlite-writer.mjs <db>                       WAL mode, 50 rows a transaction (default)
//   node sqlite-writer.mjs <db> --journal delete --rows-per-commit 1 --stats
// With --stats it times every commit and, on SIGTERM/SIGINT, prints one JSON line
// { commits, failures, maxGapMs, maxGapEndedAt, gapsOver100Ms, slowGaps: [[endedAt, ms]…], firstAt, lastAt }
// where a gap is the
// time between two consecutive successful commits (the longest insert stall an application saw).
import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";

const args = process.argv.slice(2);
const path = args[0];
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const journal = flag("--journal", "wal");
const rowsPerCommit = Number(flag("--rows-per-commit", "50"));
const busyTimeout = Number(flag("--busy-timeout", "10000"));
const stats = args.includes("--stats");

const db = new Database(path);
db.pragma(`journal_mode = ${journal === "delete" ? "DELETE" : "WAL"}`);
db.pragma(`busy_timeout = ${busyTimeout}`);
db.exec("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, at TEXT NOT NULL)");
const insert = db.prepare("INSERT INTO events (payload, at) VALUES (?, ?)");
const batch = db.transaction((n) => {
  for (let i = 0; i < n; i++) insert.run(randomBytes(64).toString("hex"), new Date().toISOString());
});

let commits = 0;
let failures = 0;
let last = 0;
let firstAt = 0;
let maxGapMs = 0;
let maxGapEndedAt = 0;
let gapsOver100Ms = 0;
const slowGaps = [];
let announced = false;
let stopping = false;

function tick() {
  if (stopping) return;
  try {
    batch(rowsPerCommit);
    const now = performance.timeOrigin + performance.now();
    if (last) {
      const gap = now - last;
      if (gap > maxGapMs) {
        maxGapMs = gap;
        maxGapEndedAt = now;
      }
      if (gap > 100) gapsOver100Ms++;
      if (gap > 50 && slowGaps.length < 50) slowGaps.push([Math.round(now), Math.round(gap)]);
    } else firstAt = now;
    last = now;
    commits++;
  } catch (err) {
    // An application whose write failed (SQLITE_BUSY after its busy timeout) retries.
    if (!stats) throw err;
    failures++;
  }
  if (!announced) {
    process.stdout.write("ready\n");
    announced = true;
  }
  setImmediate(tick);
}

function stop() {
  stopping = true;
  if (stats) {
    const summary = { commits, failures, maxGapMs, maxGapEndedAt, gapsOver100Ms, slowGaps, firstAt, lastAt: last };
    process.stdout.write(`${JSON.stringify(summary)}\n`, () => {
      db.close();
      process.exit(0);
    });
  } else process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
tick();
