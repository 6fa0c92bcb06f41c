import type { Settings } from "../config/load.js";
import { HoldfastError } from "../errors.js";
import { engineForSource } from "../engines/registry.js";
import { keyIdOf } from "../pipeline/key-id.js";
import type { CompressionSettings } from "../pipeline/compression.js";
import { acquireLock, scopeFor, type HeldLock } from "../repository/lock.js";
import { openRepository } from "../commands/open-repository.js";
import type { CommandContext } from "../commands/context.js";
import { EXPORT_FORMAT_VERSION, EXPORT_MANIFEST_NAME, SCHEMA_NAME, exportManifestSchema, tableStreamName, type ExportManifest, type ExportSchema, type ExportTable, type ExportTableEntry } from "./format.js";
import { selectTables, sensitivePatterns, type ExportFilter } from "./filter.js";
import { ndjsonStream } from "./ndjson.js";
import { openPgSource } from "./pg-source.js";
import { RepositorySink } from "./repository-sink.js";
import { FileSink } from "./file-sink.js";
import { ValueSealer } from "./sensitive.js";
import type { ExportSink } from "./sink.js";
import { dependencyOrder, type ExportSource } from "./source.js";
import { openSqliteSource } from "./sqlite-source.js";
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import type { JsonValue } from "./values.js";

export interface ExportRequest {
  source: string;
  settings: Settings;
  filter: ExportFilter;
  /** --sensitive patterns ("users.password_hash", "tokens.*"). */
  sensitive: string[];
  /** "repository": the streams are encrypted to the repository's key (when it has one); "none": not. */
  encryption: "none" | "repository";
  /** Write one portable file here instead of storing in the repository. */
  out?: string;
}

export interface ExportResult {
  /** The repository id, or absent with --out. */
  id?: string;
  /** The portable file, with --out. */
  file?: string;
  manifest: ExportManifest;
}

export async function openExportSource(text: string): Promise<ExportSource> {
  const { engine } = engineForSource(text);
  if (engine.name === "sqlite") return openSqliteSource(text);
  if (engine.name === "postgres") return openPgSource(text);
  throw new HoldfastError("USAGE", `export reads SQLite and PostgreSQL databases, not ${engine.name} sources`);
}

/** Mark the columns --sensitive names; a pattern that matches nothing is refused (a typo must not leak a column). */
function markSensitive(tables: ExportTable[], patterns: RegExp[], raw: string[]): { tables: ExportTable[]; columns: string[] } {
  const columns: string[] = [];
  const used = new Set<RegExp>();
  const marked = tables.map((t) => ({
    ...t,
    columns: t.columns.map((c) => {
      const hit = patterns.filter((p) => p.test(`${t.name}.${c.name}`));
      hit.forEach((p) => used.add(p));
      if (!hit.length) return c;
      columns.push(`${t.name}.${c.name}`);
      return { ...c, sensitive: true };
    }),
  }));
  const unused = patterns.findIndex((p) => !used.has(p));
  if (unused >= 0) throw new HoldfastError("USAGE", `--sensitive ${raw.flatMap((o) => o.split(",")).map((s) => s.trim()).filter(Boolean)[unused]} matches no exported column`);
  return { tables: marked, columns };
}

function sealedRows(batches: AsyncIterable<JsonValue[][]>, table: ExportTable, sealer: ValueSealer | undefined): AsyncIterable<JsonValue[][]> {
  const sealedAt = table.columns.flatMap((c, i) => (c.sensitive ? [i] : []));
  if (!sealer || sealedAt.length === 0) return batches;
  return (async function* () {
    for await (const rows of batches) {
      for (const row of rows) for (const i of sealedAt) if (row[i] !== null) row[i] = sealer.seal(`${table.name}.${table.columns[i]!.name}`, row[i]!);
      yield rows;
    }
  })();
}

/** The portable file is zstd whatever the repository uses (`zstd -d | tar -x` opens it); the configured zstd level and threads apply. */
function portableCompression(c: CompressionSettings): CompressionSettings {
  return c.algorithm === "zstd" ? c : { algorithm: "zstd", threads: c.threads };
}

/**
 * Export: read the selected tables inside one snapshot of the source, one NDJSON stream each,
 * then schema.json and export.json; into the repository (kind "export") or one portable file.
 */
export async function exportData(req: ExportRequest, ctx: CommandContext): Promise<ExportResult> {
  const started = new Date();
  const patterns = sensitivePatterns(req.sensitive);
  const needRepo = !req.out || patterns.length > 0 || req.encryption === "repository";
  const repo = needRepo && (req.settings.repo || !req.out) ? (await openRepository(req.settings, "no")).repo : undefined;
  if (req.out && req.encryption === "repository" && !repo) throw new HoldfastError("USAGE", "--encryption repository needs a repository (--repo or HOLDFAST_REPO) whose key the file is encrypted to", { hint: "or write a plaintext file with --encryption none" });
  const repoRecipients = repo?.recipients;
  if (patterns.length && !repoRecipients) throw new HoldfastError("USAGE", "--sensitive needs an encrypted repository: its key seals the sensitive values", { hint: "set --repo to a repository created with --encryption age" });
  const recipients = req.encryption === "repository" ? repoRecipients : undefined;
  const source = await openExportSource(req.source);
  let sink: ExportSink | undefined;
  let lock: HeldLock | undefined;
  try {
    const chosen = new Set(selectTables(source.tables.map((t) => t.name), req.filter));
    const { tables, columns } = markSensitive(dependencyOrder(source.tables.filter((t) => chosen.has(t.name))), patterns, req.sensitive);
    const sealer = columns.length ? ValueSealer.fresh() : undefined;
    if (req.out) sink = await FileSink.create(req.settings.tmpDir, resolve(req.out), portableCompression(req.settings.compression), recipients);
    else {
      // Held while the export is written, so prune tells it from an interrupted one.
      const scope = scopeFor(`export:${source.uri}`);
      lock = await acquireLock(repo!.backend, scope, `export of ${source.uri}`, { waitMs: req.settings.lockWaitMs, signal: ctx.signal });
      const id = (await repo!.reserveId(started, { engine: "export", source: source.uri, kind: "export", lockScope: scope }, ctx.signal)).id;
      sink = new RepositorySink(repo!, id, req.settings, recipients, ctx.signal);
    }
    ctx.log.info({ source: source.uri, tables: tables.length, out: req.out }, "export started");
    const entries: ExportTableEntry[] = [];
    for (const [i, table] of tables.entries()) {
      const tally = { rows: 0 };
      const where = req.filter.where[table.name];
      const bar = ctx.progress(`export ${table.name} (${i + 1}/${tables.length})`);
      try {
        // Sealed columns are encoded here; otherwise the database may write the lines itself.
        const direct = table.columns.some((c) => c.sensitive) ? undefined : source.ndjson?.(table, where, tally);
        const stream = direct ? Readable.from(direct, { objectMode: false }) : ndjsonStream(sealedRows(source.rows(table, where), table, sealer), tally);
        const rec = await sink.put(tableStreamName(i, table.name), stream, (n) => bar.update(n, tally.rows));
        entries.push({ name: table.name, stream: rec.name, rows: tally.rows, bytes: rec.bytes, sha256: rec.sha256, ...(where ? { where } : {}) });
      } finally {
        bar.stop();
      }
      ctx.log.info({ table: table.name, rows: tally.rows }, "table exported");
    }
    const schema: ExportSchema = { formatVersion: EXPORT_FORMAT_VERSION, engine: source.engine, tables };
    const schemaBytes = Buffer.from(JSON.stringify(schema, null, 2) + "\n");
    const manifest: ExportManifest = exportManifestSchema.parse({
      formatVersion: EXPORT_FORMAT_VERSION,
      createdAt: started.toISOString(),
      source: { engine: source.engine, uri: source.uri, version: source.version },
      ...(source.migrationVersion !== undefined ? { migrationVersion: source.migrationVersion } : {}),
      filter: { tables: req.filter.tables, excludeTables: req.filter.excludeTables, where: req.filter.where },
      schema: { bytes: schemaBytes.length, sha256: createHash("sha256").update(schemaBytes).digest("hex") },
      tables: entries,
      ...(sealer ? { sensitive: { columns, keyAge: await sealer.sealedKey(repoRecipients!), keyId: keyIdOf(repoRecipients!) } } : {}),
    });
    await source.close(); // the snapshot is no longer needed: end it before the (possibly long) tar write
    const where = await sink.commit({ schemaName: SCHEMA_NAME, schema: schemaBytes, manifestName: EXPORT_MANIFEST_NAME, manifest: Buffer.from(JSON.stringify(manifest, null, 2) + "\n"), exportManifest: manifest, started });
    ctx.log.info({ source: source.uri, where, rows: entries.reduce((s, e) => s + e.rows, 0) }, "export complete");
    return req.out ? { file: where, manifest } : { id: where, manifest };
  } catch (err) {
    await sink?.abort().catch(() => undefined);
    throw err;
  } finally {
    await source.close();
    await lock?.release().catch(() => undefined);
  }
}
