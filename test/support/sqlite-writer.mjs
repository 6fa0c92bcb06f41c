// A separate writer process: inserts rows continuously into a WAL-mode SQLite database until
// killed, as an application would while a backup runs. Prints "ready" once it is writing.
import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";

const path = process.argv[2];
const db = new Database(path);
db.pragma("journal_mode = WAL");
db.pragma("busy_timeout = 10000");
db.exec("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, at TEXT NOT NULL)");
const insert = db.prepare("INSERT INTO events (payload, at) VALUES (?, ?)");
const batch = db.transaction((n) => {
  for (let i = 0; i < n; i++) insert.run(randomBytes(64).toString("hex"), new Date().toISOString());
});
let announced = false;
function tick() {
  batch(50);
  if (!announced) {
    process.stdout.write("ready\n");
    announced = true;
  }
  setImmediate(tick);
}
tick();
