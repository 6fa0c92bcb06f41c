import { createHash } from "node:crypto";
import { HoldfastError } from "../errors.js";
import type { AgeKeys } from "../pipeline/age.js";
import { openStoredFile } from "../pipeline/assemble.js";
import type { Manifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import { EXPORT_FORMAT_VERSION, EXPORT_MANIFEST_NAME, SCHEMA_NAME, exportManifestSchema, exportSchemaSchema, type ExportManifest, type ExportSchema, type ExportTable, type ExportTableEntry } from "./format.js";
import { fileStreams } from "./file-streams.js";
import { ndjsonChunks, parseChunk, type LineChunk } from "./ndjson.js";
import { ValueSealer } from "./sensitive.js";
import { decodeValue, type DecodedValue } from "./values.js";

/**
 * Reading an export back (what import is built on).
 *
 *   const reader = await openExportFile("/backups/app.export", { keys });        // or openRepositoryExport(repo, manifest, { keys })
 *   reader.manifest, reader.schema                                              // checked: version, zod, schema.json's SHA-256
 *   for await (const t of reader.tables()) for await (const row of t.rows()) …  // DecodedValue[] in t.table.columns order (or t.batches())
 *   await reader.close();
 *
 * Tables come in export.json's order (referenced tables first). A table's rows are yielded as read;
 * its size, SHA-256 and row count are checked when its last row has been read, and a failure
 * throws from the iteration (CORRUPTED, TRUNCATED): write inside a transaction and commit only
 * after every table's iteration ended. A table not iterated is still read through and checked.
 * A newer format is refused at open (TOOL_VERSION). Sensitive columns are opened with the
 * repository key (WRONG_KEY without it) unless `keepSealed`, which yields their base64 as is.
 */
export interface ExportReader {
  manifest: ExportManifest;
  schema: ExportSchema;
  tables(): AsyncIterable<ExportTableReader>;
  close(): Promise<void>;
}

export interface ExportTableReader {
  entry: ExportTableEntry;
  table: ExportTable;
  rows(): AsyncIterable<DecodedValue[]>;
  /** The same rows a batch at a time (what a bulk loader wants); either this, rows() or lineChunks(), once. */
  batches(): AsyncIterable<DecodedValue[][]>;
  /**
   * The rows undecoded: chunks of whole NDJSON lines as bytes, for a loader that rewrites bytes
   * itself (ndjson-copy.ts) and decodes with `decode` only what it cannot. The stream's checks run
   * as with batches(). Undefined when a column is sealed: its values must be decoded.
   */
  lineChunks?: () => AsyncIterable<LineChunk>;
  /** A chunk's rows decoded, as batches() gives them (the same checks and errors). */
  decode(chunk: LineChunk): DecodedValue[][];
}

export interface ReadOptions {
  keys?: AgeKeys;
  keepSealed?: boolean;
}

/** Named streams, asked for in order: export.json, schema.json, then each table of export.json. */
export interface ExportStreams {
  open(name: string): Promise<AsyncIterable<Buffer>>;
  close(): Promise<void>;
}

export async function openExportFile(path: string, options: ReadOptions = {}): Promise<ExportReader> {
  return openExport(await fileStreams(path, options.keys), path, options);
}

export async function openRepositoryExport(repo: Repository, manifest: Manifest, options: ReadOptions = {}): Promise<ExportReader> {
  if (manifest.kind !== "export") throw new HoldfastError("USAGE", `${manifest.id} is a ${manifest.kind ?? "full"} backup, not an export`, { hint: "see `holdfast list`" });
  const streams: ExportStreams = {
    async open(name) {
      const file = manifest.files.find((f) => f.name === name);
      if (!file) throw new HoldfastError("CORRUPTED", `export ${manifest.id} has no ${name}`);
      return (await openStoredFile(repo.backend, file, { keys: options.keys })) as AsyncIterable<Buffer>;
    },
    close: async () => undefined,
  };
  return openExport(streams, `export ${manifest.id}`, options);
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

function parseJson(bytes: Buffer, where: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new HoldfastError("CORRUPTED", `${where} is not JSON`);
  }
}

async function openExport(streams: ExportStreams, where: string, options: ReadOptions): Promise<ExportReader> {
  try {
    const raw = parseJson(await readAll(await streams.open(EXPORT_MANIFEST_NAME)), `${where}: ${EXPORT_MANIFEST_NAME}`);
    const version = (raw as { formatVersion?: unknown })?.formatVersion;
    if (typeof version === "number" && version > EXPORT_FORMAT_VERSION) {
      throw new HoldfastError("TOOL_VERSION", `${where} is export format ${version}, newer than this Holdfast reads (${EXPORT_FORMAT_VERSION})`, { hint: "upgrade Holdfast to import it" });
    }
    const parsed = exportManifestSchema.safeParse(raw);
    if (!parsed.success) throw new HoldfastError("CORRUPTED", `${where}: ${EXPORT_MANIFEST_NAME} is invalid (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message})`);
    const manifest = parsed.data;
    const schemaBytes = await readAll(await streams.open(SCHEMA_NAME));
    if (schemaBytes.length !== manifest.schema.bytes || createHash("sha256").update(schemaBytes).digest("hex") !== manifest.schema.sha256) {
      throw new HoldfastError("CORRUPTED", `${where}: ${SCHEMA_NAME} does not match the SHA-256 ${EXPORT_MANIFEST_NAME} records`);
    }
    const schema = exportSchemaSchema.safeParse(parseJson(schemaBytes, `${where}: ${SCHEMA_NAME}`));
    if (!schema.success) throw new HoldfastError("CORRUPTED", `${where}: ${SCHEMA_NAME} is invalid (${schema.error.issues[0]?.message})`);
    const sealer = manifest.sensitive && !options.keepSealed ? await ValueSealer.open(manifest.sensitive.keyAge, options.keys, where) : undefined;
    const byName = new Map(schema.data.tables.map((t) => [t.name, t]));
    return {
      manifest,
      schema: schema.data,
      async *tables() {
        for (const entry of manifest.tables) {
          const table = byName.get(entry.name);
          if (!table) throw new HoldfastError("CORRUPTED", `${where}: ${entry.name} is in ${EXPORT_MANIFEST_NAME} but not in ${SCHEMA_NAME}`);
          const chunks = ndjsonChunks(await streams.open(entry.stream), entry, `${where}: ${entry.stream}`);
          const decode = rowDecoder(table, sealer, `${where}: ${entry.stream}`);
          let started = false;
          const lineChunks = () => {
            if (started) throw new HoldfastError("INTERNAL", `rows of ${entry.name} read twice`);
            started = true;
            return chunks;
          };
          const batches = async function* () {
            for await (const chunk of lineChunks()) yield decode(chunk);
          };
          const rows = async function* () {
            for await (const batch of batches()) yield* batch;
          };
          const sealed = table.columns.some((c) => c.sensitive);
          yield { entry, table, rows, batches, decode, ...(sealed ? {} : { lineChunks }) };
          if (!started) for await (const _ of lineChunks()) void _; // read through: the stream's checks still run
        }
      },
      close: () => streams.close(),
    };
  } catch (err) {
    await streams.close();
    throw err;
  }
}

/** The decoder of a table's chunks of lines: parsed, checked for the table's width, each value decoded (sealed ones opened). */
function rowDecoder(table: ExportTable, sealer: ValueSealer | undefined, where: string): (chunk: LineChunk) => DecodedValue[][] {
  const columns = table.columns;
  const width = columns.length;
  const decoders = columns.map((c) => (v: unknown): DecodedValue => {
    if (!c.sensitive || v === null) return decodeValue(c.type, v, where);
    if (!sealer) return v as string;
    return decodeValue(c.type, sealer.open(`${table.name}.${c.name}`, v, where), where);
  });
  return (chunk) => {
    const lines = parseChunk(chunk, where);
    const out: DecodedValue[][] = new Array(lines.length);
    for (let r = 0; r < lines.length; r++) {
      const line = lines[r];
      if (!Array.isArray(line) || line.length !== width) throw new HoldfastError("CORRUPTED", `${where}: row ${chunk.before + r + 1} does not have the table's ${width} columns`);
      const row: DecodedValue[] = new Array(width);
      for (let i = 0; i < width; i++) row[i] = decoders[i]!(line[i]);
      out[r] = row;
    }
    return out;
  };
}
