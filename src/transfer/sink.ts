import type { Readable } from "node:stream";
import type { ExportManifest } from "./format.js";

/** One stream as written: its NDJSON/JSON bytes and their SHA-256 (before compression). */
export interface StreamRecord {
  name: string;
  bytes: number;
  sha256: string;
}

export interface SinkCommit {
  schemaName: string;
  schema: Buffer;
  manifestName: string;
  manifest: Buffer;
  exportManifest: ExportManifest;
  started: Date;
}

/** Where an export's streams go: the repository (repository-sink.ts) or one portable file (file-sink.ts). */
export interface ExportSink {
  /** Store one table stream, in order; resolves once it is written in full. */
  put(name: string, stream: Readable, onProgress?: (bytes: number) => void): Promise<StreamRecord>;
  /** Write schema.json and export.json and make the export exist; returns its id or path. */
  commit(c: SinkCommit): Promise<string>;
  /** After a failure: remove what was written (nothing half-written stays visible). */
  abort(): Promise<void>;
}
