import { Readable } from "node:stream";
import type { Settings } from "../config/load.js";
import { storeStream, type StoredFileRecord } from "../pipeline/assemble.js";
import { FILE_EXTENSION } from "../pipeline/compression.js";
import { dataKey } from "../repository/layout.js";
import type { Manifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import { manifestEnvelope } from "../commands/context.js";
import type { ExportSink, SinkCommit, StreamRecord } from "./sink.js";

/**
 * An export stored in the repository as a backup of kind "export": each stream one stored file
 * (compressed, encrypted to the repository unless --encryption none, two hashes each), the
 * repository manifest last. Listed by `list`, checked by `verify`, never `latest` for restore.
 */
export class RepositorySink implements ExportSink {
  private readonly files: StoredFileRecord[] = [];

  constructor(private readonly repo: Repository, readonly id: string, private readonly settings: Settings, private readonly recipients: string[] | undefined, private readonly signal?: AbortSignal) {}

  async put(name: string, stream: Readable, onProgress?: (bytes: number) => void): Promise<StreamRecord> {
    const stored = `${name}${FILE_EXTENSION[this.settings.compression.algorithm]}${this.recipients ? ".age" : ""}`;
    const record = await storeStream(stream, this.repo.backend, name, dataKey(this.id, stored), { compression: this.settings.compression, recipients: this.recipients, signal: this.signal, onProgress });
    this.files.push(record);
    return { name, bytes: record.contentBytes, sha256: record.contentSha256 };
  }

  async commit(c: SinkCommit): Promise<string> {
    await this.put(c.schemaName, Readable.from([c.schema]));
    await this.put(c.manifestName, Readable.from([c.manifest]));
    const m = c.exportManifest;
    const manifest: Manifest = {
      ...manifestEnvelope({
        id: this.id,
        kind: "export",
        engine: "export",
        source: { uri: m.source.uri, version: m.source.version, sizeBytes: this.files.reduce((s, f) => s + f.contentBytes, 0) },
        labels: { ...this.settings.labels },
        started: c.started,
        finished: new Date(),
      }),
      files: this.files,
      tables: m.tables.map((t) => ({ name: t.name, rows: t.rows })),
      details: { exportFormatVersion: m.formatVersion, sourceEngine: m.source.engine, ...(m.migrationVersion !== undefined ? { migrationVersion: m.migrationVersion } : {}), filter: m.filter, sensitiveColumns: m.sensitive?.columns ?? [] },
    };
    await this.repo.commit(manifest);
    return this.id;
  }

  async abort(): Promise<void> {
    await this.repo.removeIncomplete(this.id);
  }
}
