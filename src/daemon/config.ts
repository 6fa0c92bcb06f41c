import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { isPgConnection, parsePgUrl, type PgRef } from "../engines/postgres/connection.js";
import { loadSettings, type Settings } from "../config/load.js";
import { parseDuration } from "../config/duration.js";
import { HoldfastError, registerSecret } from "../errors.js";
import { policyFromConfig } from "../commands/prune.js";
import { DEFAULT_STALE_AFTER, schedulesOf, sourceUriOf, type JobKind } from "../commands/status.js";
import type { RetentionPolicy } from "../repository/retention.js";
import { engineForSource } from "../engines/registry.js";
import type { ExportFilter } from "../transfer/filter.js";

export interface DatabaseJobs {
  name: string;
  /** The source string from the config (what backup() takes). */
  source: string;
  /** The source as manifests record it. */
  sourceUri: string;
  labels: Record<string, string>;
  timeZone?: string;
  staleAfterMs: number;
  schedule: Partial<Record<JobKind, string>>;
  policy: RetentionPolicy;
  /** Set when the daemon exports this database (export:): what export() takes besides the source. */
  export?: { filter: ExportFilter; sensitive: string[] };
  /** Set when the daemon streams this database's WAL (wal_stream:). */
  walStream?: WalStreamSettings;
}

export interface WalStreamSettings {
  /** The source as a connection (credentials stay in memory; pg_receivewal gets them through PGPASSFILE). */
  server: PgRef;
  slot: string;
  synchronous: boolean;
  spoolDir: string;
}

export interface DaemonConfig {
  path: string;
  settings: Settings;
  databases: DatabaseJobs[];
  http: { host: string; port: number; token?: string; basic?: { user: string; password: string }; dashboard: boolean };
  alerts: { webhooks: string[]; command?: string[]; repeatAfterMs: number };
  runMissedOnStart: boolean;
  stateDir: string;
}

export const DEFAULT_LISTEN = "127.0.0.1:9187";

/**
 * Load and check everything the daemon needs before it starts (or before a reload replaces the
 * running config): schema (bad cron, time zone and durations are reported with their key path by
 * the schema), then what the schema cannot know — database kinds, the token file, the repository.
 */
export async function loadDaemonConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<DaemonConfig> {
  const settings = await loadSettings({ config: path }, env);
  const bad = (key: string, message: string) => new HoldfastError("CONFIG_INVALID", `${path}: ${key}: ${message}`);
  const names = Object.keys(settings.databases);
  if (names.length === 0) throw bad("databases", "no databases configured; the daemon has nothing to do");
  if (!settings.repo) throw bad("repo", "no repository configured");
  const databases = names.map((name): DatabaseJobs => {
    const db = settings.databases[name]!;
    let sourceUri: string;
    try {
      sourceUri = sourceUriOf(db.source);
    } catch (err) {
      throw bad(`databases.${name}.source`, (err as Error).message);
    }
    return {
      name,
      source: db.source,
      sourceUri,
      labels: db.labels ?? {},
      timeZone: db.timezone ?? settings.ops?.timezone,
      staleAfterMs: parseDuration(db.stale_after ?? DEFAULT_STALE_AFTER),
      schedule: schedulesOf(db),
      policy: policyFromConfig(settings.ops?.retention, db.retention),
      ...(db.export ? { export: { filter: { tables: db.export.tables ?? [], excludeTables: db.export.exclude_tables ?? [], where: db.export.where ?? {} }, sensitive: db.export.sensitive ?? [] } } : {}),
    };
  });
  const stateDir = settings.ops?.state_dir ?? dirname(resolve(path));
  for (const d of databases) {
    const stream = settings.databases[d.name]!.wal_stream;
    if (!stream) continue;
    if (!isPgConnection(d.source)) throw bad(`databases.${d.name}.wal_stream`, "streams WAL from a PostgreSQL server; the source is not a postgres:// connection");
    const spool = stream.spool_dir ? resolve(dirname(resolve(path)), stream.spool_dir) : join(stateDir, "wal-stream", d.name);
    d.walStream = { server: parsePgUrl(d.source), slot: stream.slot ?? "holdfast", synchronous: stream.synchronous ?? false, spoolDir: spool };
  }
  const spools = new Map<string, string>();
  for (const d of databases.filter((x) => x.walStream)) {
    const key = d.walStream!.spoolDir;
    if (spools.has(key)) throw bad(`databases.${d.name}.wal_stream.spool_dir`, `the same spool folder as databases.${spools.get(key)}`);
    spools.set(key, d.name);
  }
  for (const d of databases) {
    if (d.export && !["sqlite", "postgres"].includes(engineForSource(d.source).engine.name)) throw bad(`databases.${d.name}.export`, "exports SQLite and PostgreSQL databases; the source is neither");
    if (d.schedule.copy && !settings.copyTo?.length) throw bad(`databases.${d.name}.schedule.copy`, "needs copy_to: (the offsite repositories) at the top level");
  }
  const seen = new Map<string, string>();
  for (const d of databases) {
    const other = seen.get(d.sourceUri);
    if (other) throw bad(`databases.${d.name}.source`, `the same source as databases.${other} (${d.sourceUri})`);
    seen.set(d.sourceUri, d.name);
  }
  const listen = settings.ops?.http?.listen ?? DEFAULT_LISTEN;
  const colon = listen.lastIndexOf(":");
  const port = Number(listen.slice(colon + 1));
  if (!Number.isInteger(port) || port > 65535) throw bad("http.listen", `bad port in "${listen}"`);
  const secretFile = async (key: string, file: string): Promise<{ where: string; text: string }> => {
    const where = resolve(dirname(resolve(path)), file);
    const text = (await readFile(where, "utf8").catch(() => {
      throw bad(key, `cannot read ${where}`);
    })).trim();
    return { where, text };
  };
  let token: string | undefined;
  const tokenFile = settings.ops?.http?.token_file;
  if (tokenFile) {
    const { where, text } = await secretFile("http.token_file", tokenFile);
    token = text;
    if (token.length < 16) throw bad("http.token_file", `the token in ${where} is shorter than 16 characters`);
    registerSecret(token);
  }
  let basic: { user: string; password: string } | undefined;
  const basicFile = settings.ops?.http?.basic_auth_file;
  if (basicFile) {
    const { where, text } = await secretFile("http.basic_auth_file", basicFile);
    const colon = text.indexOf(":");
    basic = { user: text.slice(0, colon), password: text.slice(colon + 1) };
    if (colon < 1 || basic.password.length < 12) throw bad("http.basic_auth_file", `${where} must hold one line "user:password" with a password of at least 12 characters`);
    registerSecret(basic.password);
  }
  return {
    path,
    settings,
    databases,
    http: { host: listen.slice(0, colon).replace(/^\[|\]$/g, ""), port, token, basic, dashboard: settings.ops?.http?.dashboard ?? true },
    alerts: {
      webhooks: settings.ops?.alerts?.webhooks ?? [],
      command: settings.ops?.alerts?.command,
      repeatAfterMs: parseDuration(settings.ops?.alerts?.repeat_after ?? "1h"),
    },
    runMissedOnStart: settings.ops?.run_missed_on_start ?? true,
    stateDir,
  };
}
