import { createHash } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import type pg from "pg";
import { storedConfigName, type ConfigFile } from "./config-files.js";

/** What a base backup keeps of the server's configuration: records, contents to store, and what it could not do. */
export interface CapturedConfig {
  files: ConfigFile[];
  /** Files outside the data directory, to be stored beside `base` under these names. */
  contents: { name: string; content: Buffer }[];
  warnings: string[];
}

type Role = ConfigFile["role"];

const HINT = "connect as a superuser, or GRANT pg_read_all_settings, pg_read_server_files and EXECUTE ON FUNCTION pg_read_binary_file(text) to the backup role, or run holdfast on the server's host as a user who can read them";

/**
 * Learn where config_file, hba_file and ident_file live (and the files postgresql.conf includes),
 * and read those outside the data directory: over the connection when the role may
 * (pg_read_binary_file), else from this host's file system when it is the server's host (its
 * pg_control names the same system identifier). Never fails the backup: what cannot be done is
 * returned as a warning.
 */
export async function captureConfig(client: pg.Client, systemIdentifier: string): Promise<CapturedConfig> {
  let located: Record<string, string>;
  try {
    located = (await client.query("SELECT current_setting('data_directory') AS data_directory, current_setting('config_file') AS config_file, current_setting('hba_file') AS hba_file, current_setting('ident_file') AS ident_file")).rows[0] as Record<string, string>;
  } catch (err) {
    return {
      files: [],
      contents: [],
      warnings: [`configuration files not recorded: where they live is unknown (${(err as Error).message}); if the server keeps postgresql.conf, pg_hba.conf or pg_ident.conf outside its data directory (e.g. in /etc/postgresql), they are not in this backup; ${HINT}`],
    };
  }
  const dataDir = located.data_directory!;
  const inside = (path: string) => {
    const rel = relative(dataDir, path);
    return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
  };
  const includes = await includedFiles(client, located.config_file!);
  const wanted: [Role, string][] = [
    ["config_file", located.config_file!],
    ["hba_file", located.hba_file!],
    ["ident_file", located.ident_file!],
    ...(includes ?? []).filter((p) => !inside(p)).map((p): [Role, string] => ["include", p]),
  ];
  const reader = new ConfigReader(client, dataDir, systemIdentifier);
  const captured: CapturedConfig = { files: [], contents: [], warnings: [] };
  const taken = new Set<string>();
  const unread: string[] = [];
  for (const [role, path] of wanted) {
    const isInside = inside(path);
    const read = await reader.read(path);
    const record: ConfigFile = { role, path, insideDataDirectory: isInside };
    if ("content" in read) {
      Object.assign(record, { sizeBytes: read.content.length, sha256: createHash("sha256").update(read.content).digest("hex"), readFrom: read.from });
      if (!isInside) {
        record.storedAs = storedConfigName(path, taken);
        captured.contents.push({ name: record.storedAs, content: read.content });
      }
    } else if (!isInside) unread.push(`${path} (${read.error})`);
    captured.files.push(record);
  }
  if (unread.length) captured.warnings.push(`configuration outside the data directory not stored, it could not be read: ${unread.join(", ")}; ${HINT}`);
  const main = captured.contents.find((c) => c.name === captured.files[0]?.storedAs);
  if (includes === undefined && main && /^\s*include(_dir|_if_exists)?\b/m.test(main.content.toString("utf8"))) {
    captured.warnings.push(`${located.config_file} includes other files, which were not stored: listing them needs pg_file_settings (superuser)`);
  }
  return captured;
}

/** Every file that sets something, in the order PostgreSQL reads them (pg_file_settings parses them now); undefined when not allowed. */
async function includedFiles(client: pg.Client, configFile: string): Promise<string[] | undefined> {
  try {
    const rows = (await client.query("SELECT sourcefile FROM pg_file_settings WHERE sourcefile IS NOT NULL GROUP BY sourcefile ORDER BY min(seqno)")).rows as { sourcefile: string }[];
    return rows.map((r) => r.sourcefile).filter((f) => f !== configFile);
  } catch {
    return undefined;
  }
}

/** Reads a server-side file over the connection, or locally when this is the server's host. */
class ConfigReader {
  private serverRefusal?: string;
  private localHost?: Promise<string | undefined>;

  constructor(private readonly client: pg.Client, private readonly dataDir: string, private readonly systemIdentifier: string) {}

  async read(path: string): Promise<{ content: Buffer; from: "server" | "local" } | { error: string }> {
    if (this.serverRefusal === undefined) {
      try {
        const row = (await this.client.query("SELECT pg_read_binary_file($1) AS content", [path])).rows[0] as { content: Buffer };
        return { content: row.content, from: "server" };
      } catch (err) {
        const message = (err as Error).message;
        // A missing file is that file's problem; a refusal is the role's, and holds for every file.
        if (/permission denied|must be superuser|not allowed/i.test(message)) this.serverRefusal = message;
        else return { error: message };
      }
    }
    this.localHost ??= this.sameHost();
    const notHere = await this.localHost;
    if (notHere) return { error: `${this.serverRefusal}; ${notHere}` };
    try {
      return { content: await readFile(path), from: "local" };
    } catch (err) {
      return { error: `${this.serverRefusal}; locally: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
  }

  /** undefined when this host holds the server's data directory (its pg_control's system identifier); else why not. */
  private async sameHost(): Promise<string | undefined> {
    const control = join(this.dataDir, "global", "pg_control");
    try {
      const file = await open(control, "r");
      try {
        const head = Buffer.alloc(8);
        await file.read(head, 0, 8, 0);
        return head.readBigUInt64LE(0).toString() === this.systemIdentifier ? undefined : `${control} here belongs to another cluster`;
      } finally {
        await file.close();
      }
    } catch (err) {
      return `this host's ${control} cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"}), so it is not known to be the server's host`;
    }
  }
}
