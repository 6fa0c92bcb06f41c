import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import { HoldfastError } from "../errors.js";
import { loadSettings, type Settings } from "../config/load.js";
import { backup } from "./backup.js";
import type { CommandContext } from "./context.js";
import { initRepository } from "./init.js";
import { restore, type RestoreResult } from "./restore.js";
import { verify, type VerifyReport } from "./verify.js";
import type { Manifest } from "../repository/manifest.js";

const MARKER = ".holdfast-demo";

export interface DemoResult {
  folder: string;
  database: string;
  repository: string;
  passphraseFile: string;
  backup: Manifest;
  verification: VerifyReport;
  restored: RestoreResult;
}

/**
 * The whole loop on an embedded SQLite database: create sample data, init an encrypted
 * repository, back up, verify deeply (restore to scratch + compare), restore to a new file.
 */
export async function runDemo(folderArg: string, ctx: CommandContext, say: (line: string) => void = () => undefined): Promise<DemoResult> {
  const folder = resolve(folderArg);
  await prepareFolder(folder);
  const database = join(folder, "app.db");
  const rows = createSampleDatabase(database);
  say(`1. created ${database}: ${rows.customers} customers, ${rows.orders} orders (WAL mode)`);

  const passphraseFile = join(folder, "passphrase.txt");
  const passphrase = randomBytes(18).toString("base64url");
  await writeFile(passphraseFile, passphrase + "\n", { mode: 0o600 });
  const repository = join(folder, "repo");
  await initRepository({ location: repository, encryption: "age", passphrase }, ctx);
  say(`2. initialised an age-encrypted repository at ${repository} (passphrase in ${passphraseFile})`);

  const settings: Settings = { ...(await loadSettings({ repo: repository, passphraseFile }, {})), tmpDir: folder };
  const taken = await backup({ source: `sqlite:${database}`, settings, labels: { purpose: "demo" } }, ctx);
  const stored = taken.files.reduce((s, f) => s + f.storedBytes, 0);
  const content = taken.files.reduce((s, f) => s + f.contentBytes, 0);
  say(`3. backed up ${taken.id}: ${content} bytes → ${stored} stored (zstd + age), sha256 ${taken.files[0]!.contentSha256.slice(0, 16)}…, integrity_check ${String(taken.details.integrityCheck)}`);

  const verification = await verify({ refs: [taken.id], all: false, deep: true, settings }, ctx);
  if (!verification.ok) throw new HoldfastError("VERIFY_FAILED", `demo backup failed verification: ${verification.backups[0]?.error?.message}`);
  say(`4. verified ${taken.id} deeply: hashes ok, restored to a scratch file, integrity ok, ${verification.backups[0]!.deep!.tables.length} tables' row counts match`);

  const restoredPath = join(folder, "restored.db");
  const restored = await restore({ ref: taken.id, to: restoredPath, inPlace: false, settings }, ctx);
  say(`5. restored ${taken.id} to ${restoredPath} in ${restored.durationMs} ms: ${restored.check.tables.map((t) => `${t.name}=${t.actualRows}`).join(", ")}`);
  say(`Done. Try: holdfast list --repo ${repository}`);
  return { folder, database, repository, passphraseFile, backup: taken, verification, restored };
}

async function prepareFolder(folder: string): Promise<void> {
  const existing = await readdir(folder).catch(() => undefined);
  if (existing && existing.length > 0) {
    const ours = await stat(join(folder, MARKER)).then(() => true, () => false);
    if (!ours) throw new HoldfastError("TARGET_EXISTS", `${folder} exists and is not a Holdfast demo folder`, { hint: "pass another folder: holdfast demo --dir <path>" });
    await rm(folder, { recursive: true, force: true });
  }
  await mkdir(folder, { recursive: true, mode: 0o700 });
  await writeFile(join(folder, MARKER), "created by holdfast demo; safe to delete\n", { mode: 0o600 });
}

function createSampleDatabase(path: string): { customers: number; orders: number } {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("foreign_keys = ON");
    db.exec(`
      CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
      CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total_cents INTEGER NOT NULL, note TEXT);
      CREATE INDEX orders_customer ON orders(customer_id);`);
    const addCustomer = db.prepare("INSERT INTO customers (name, email, created_at) VALUES (?, ?, ?)");
    const addOrder = db.prepare("INSERT INTO orders (customer_id, total_cents, note) VALUES (?, ?, ?)");
    const customers = 500;
    const orders = 5000;
    db.transaction(() => {
      for (let i = 1; i <= customers; i++) addCustomer.run(`Customer ${i}`, `customer${i}@example.test`, new Date(Date.UTC(2026, 0, 1) + i * 3_600_000).toISOString());
      for (let i = 1; i <= orders; i++) addOrder.run(1 + (i % customers), 100 + ((i * 7919) % 100_000), randomBytes(24).toString("hex"));
    })();
    return { customers, orders };
  } finally {
    db.close();
  }
}
