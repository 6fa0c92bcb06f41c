// A separate writer process for consistency tests: one transaction per step inserts a customer
// (stamped with the commit time in ms), two orders referencing it, and adds 2 to the single
// counter row, continuously, until SIGTERM; prints "ready" once it is writing and, on SIGTERM,
// one JSON line { commits }. SQLite in WAL mode (the schema must exist: customers, orders, counter).
//   node fk-writer.mjs <db>
import Database from "better-sqlite3";

const db = new Database(process.argv[2]);
db.pragma("journal_mode = WAL");
db.pragma("busy_timeout = 10000");
const customer = db.prepare("INSERT INTO customers (name, at_ms) VALUES (?, ?)");
const order = db.prepare("INSERT INTO orders (customer_id, amount) VALUES (?, ?)");
const counter = db.prepare("UPDATE counter SET orders = orders + 2 WHERE id = 1");
const step = db.transaction(() => {
  const id = customer.run(`writer ${commits}`, Date.now()).lastInsertRowid;
  order.run(id, 1);
  order.run(id, 2);
  counter.run();
});

let commits = 0;
let stopping = false;
function tick() {
  if (stopping) return;
  step();
  commits++;
  if (commits === 1) process.stdout.write("ready\n");
  setImmediate(tick);
}
process.on("SIGTERM", () => {
  stopping = true;
  process.stdout.write(`${JSON.stringify({ commits })}\n`, () => {
    db.close();
    process.exit(0);
  });
});
tick();
