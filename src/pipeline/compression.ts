import { createGunzip, createGzip, gzipSync } from "node:zlib";
import { PassThrough, type Duplex } from "node:stream";
import { availableParallelism } from "node:os";
import { CompressStream, compress } from "zstd-napi";
import { ZstdDecompressStream } from "./zstd-decompress.js";
import { ZstdWorkerCompressStream } from "./zstd-worker.js";

export const COMPRESSIONS = ["zstd", "gzip", "none"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export interface CompressionSettings {
  algorithm: Compression;
  /** zstd 1..19 (default 3), gzip 1..9 (default 6). */
  level?: number;
  /** zstd worker threads; 0 = single-threaded in the caller's thread pool. Default: all cores. */
  threads?: number;
  /** zstd on a pool of worker threads (zstd-worker.ts): for several small streams at once; threads is then ignored. */
  offThread?: boolean;
}

export const FILE_EXTENSION: Record<Compression, string> = { zstd: ".zst", gzip: ".gz", none: "" };

export function defaultLevel(algorithm: Compression): number {
  return algorithm === "gzip" ? 6 : 3;
}

export function levelRange(algorithm: Compression): [number, number] {
  return algorithm === "gzip" ? [1, 9] : algorithm === "zstd" ? [1, 19] : [0, 0];
}

/**
 * The compressing stage. zstd output is a standard zstd frame (`zstd -d` reads it); gzip is a
 * standard gzip member (`gzip -d` reads it).
 */
export function compressor(settings: CompressionSettings): Duplex {
  const level = settings.level ?? defaultLevel(settings.algorithm);
  switch (settings.algorithm) {
    case "zstd":
      if (settings.offThread) return new ZstdWorkerCompressStream(level);
      return new CompressStream({
        compressionLevel: level,
        // Multi-threaded zstd overlaps compression with reading; the frame stays standard.
        nbWorkers: settings.threads ?? Math.min(availableParallelism(), 4),
        checksumFlag: true,
        // Small jobs keep multi-threaded memory bounded (default jobs are 4× the window each).
        jobSize: 1 << 20,
      });
    case "gzip":
      return createGzip({ level, chunkSize: 1 << 16 });
    case "none":
      return new PassThrough();
  }
}

/**
 * A small buffer as one whole frame (zstd) or member (gzip) of the same settings: zstd frames and
 * gzip members concatenate, so such blocks can be placed between streams compressed by compressor().
 */
export function compressBlock(settings: CompressionSettings, data: Buffer): Buffer {
  const level = settings.level ?? defaultLevel(settings.algorithm);
  switch (settings.algorithm) {
    case "zstd":
      return compress(data, { compressionLevel: level, checksumFlag: true });
    case "gzip":
      return gzipSync(data, { level });
    case "none":
      return data;
  }
}

export function decompressor(algorithm: Compression): Duplex {
  switch (algorithm) {
    case "zstd":
      return new ZstdDecompressStream();
    case "gzip":
      return createGunzip({ chunkSize: 1 << 16 });
    case "none":
      return new PassThrough();
  }
}
