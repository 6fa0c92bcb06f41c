import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { z } from "zod";
import { HoldfastError } from "../errors.js";
import type { OperationOptions, StorageBackend } from "../storage/backend.js";
import { isTransient, replayable } from "../storage/retry.js";
import { readAllText } from "./read-text.js";

/**
 * The small JSON objects of a repository (config, manifests, WAL records, verification records,
 * reservations, lock claims): written whole in one replayable put (a transient storage fault is
 * retried), read whole and validated against their schema. Big data never goes through here.
 */
export async function writeJson(backend: StorageBackend, key: string, value: unknown, options: OperationOptions & { pretty?: boolean } = {}): Promise<void> {
  const bytes = jsonBytes(value, options.pretty);
  await backend.put(key, replayable(() => Readable.from([bytes])), { signal: options.signal });
}

/** The bytes writeJson stores (for an exclusive create, which takes a buffer). */
export function jsonBytes(value: unknown, pretty = true): Buffer {
  return Buffer.from(JSON.stringify(value, null, pretty ? 2 : undefined) + "\n");
}

/**
 * The object's text. A small object is read again from the start when its body breaks off with a
 * transient fault (a reset connection mid-response): the storage retry covers opening a stream,
 * not the bytes that follow, and a small read is safe to repeat.
 */
async function readWhole(backend: StorageBackend, key: string, options: OperationOptions): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readAllText(await backend.get(key, undefined, options), `${backend.location}/${key}`);
    } catch (err) {
      if (attempt >= 3 || options.signal?.aborted || !isTransient(err)) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

/** `reason` reads after "<object> is …": "not valid JSON", "damaged: …", "invalid at files.0.key: …". */
export type JsonRead<T> = { status: "ok"; value: T } | { status: "missing" } | { status: "invalid"; reason: string };

/** Read and validate one object; never throws for a missing or malformed object (storage faults still throw). */
export async function readJson<T>(backend: StorageBackend, key: string, schema: z.ZodType<T>, options: OperationOptions = {}): Promise<JsonRead<T>> {
  let text: string;
  try {
    text = await readWhole(backend, key, options);
  } catch (err) {
    if (err instanceof HoldfastError && err.code === "NOT_FOUND") return { status: "missing" };
    if (err instanceof HoldfastError && err.code === "CORRUPTED") return { status: "invalid", reason: "damaged: not valid UTF-8" };
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { status: "invalid", reason: "not valid JSON" };
  }
  const broken = brokenSeal(parsed);
  if (broken) return { status: "invalid", reason: `damaged: ${broken}` };
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { status: "invalid", reason: `invalid at ${issue?.path.join(".") || "(root)"}: ${issue?.message}` };
  }
  return { status: "ok", value: result.data };
}

/**
 * The repository's own metadata (holdfast.json, manifests) carries `integrity`: the SHA-256 of its
 * JSON text without that field, so a flipped byte that still parses (a digit in a size, a letter
 * in a name) is caught like one in a data file. Objects written before the field existed have none.
 */
export function sealed<T extends object>(value: T): T & { integrity: string } {
  const { integrity: _old, ...rest } = value as T & { integrity?: string };
  return { ...(rest as T), integrity: digestOf(rest) };
}

/** undefined when the seal matches (or there is none); otherwise why it does not. */
export function brokenSeal(parsed: unknown): string | undefined {
  if (!parsed || typeof parsed !== "object" || !("integrity" in parsed)) return undefined;
  const { integrity, ...rest } = parsed as { integrity: unknown };
  if (typeof integrity !== "string") return "its integrity field is not a string";
  return integrity === digestOf(rest) ? undefined : "its content does not match its integrity SHA-256";
}

function digestOf(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value, null, 2)).digest("hex");
}
