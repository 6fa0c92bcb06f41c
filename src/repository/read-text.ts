import type { Readable } from "node:stream";
import { HoldfastError } from "../errors.js";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Small objects only (configs, manifests, records, claims): read whole. Bytes that are not valid
 * UTF-8 are damage (everything Holdfast writes is UTF-8 JSON), reported as CORRUPTED naming `where`.
 */
export async function readAllText(stream: Readable, where = "a repository object"): Promise<string> {
  const bytes = await readAllBuffer(stream);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new HoldfastError("CORRUPTED", `${where} is damaged: not valid UTF-8`);
  }
}

/** A small object's bytes, whole (a sealed key file). */
export async function readAllBuffer(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
