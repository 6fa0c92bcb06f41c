import { encode, encodePax, type EncodeHeader } from "tar-stream/headers.js";

/**
 * The bytes of a tar archive around entry bodies written elsewhere, exactly as tar-stream's pack
 * writes them (ustar headers, a pax header for a name ustar cannot hold, 512-byte blocks, two zero
 * blocks at the end) — so an archive can be assembled from bodies already compressed (file-sink.ts).
 */

const BLOCK = 512;

/** Zeros that fill a body of `size` bytes up to its 512-byte block. */
export function tarPadding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest ? BLOCK - rest : 0);
}

/** The end of the archive: two zero blocks. */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

/** The header(s) of a regular file entry of `size` bytes; its body follows, then tarPadding(size). */
export function tarHeader(name: string, size: number, mtime: Date): Buffer {
  const header: EncodeHeader = { name, size, mode: 0o600, mtime, type: "file", uid: 0, gid: 0 };
  const plain = encode(header);
  if (plain) return plain;
  const pax = encodePax({ name });
  const paxHeader = encode({ ...header, name: "PaxHeader", size: pax.length, type: "pax-header" })!;
  return Buffer.concat([paxHeader, pax, tarPadding(pax.length), encode({ ...header, name: "PaxHeader" })!]);
}

/** A whole small entry: header, body and padding. */
export function tarEntry(name: string, body: Buffer, mtime: Date): Buffer {
  return Buffer.concat([tarHeader(name, body.length, mtime), body, tarPadding(body.length)]);
}
