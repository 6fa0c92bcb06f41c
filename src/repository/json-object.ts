import { Readable } from "node:stream";
import type { z } from "zod";
import { HoldfastError } from "../errors.js";
import type { OperationOptions, StorageBackend } from "../storage/backend.js";
import { replayable } from "../storage/retry.js";
import { readAllText } from "./read-text.js";

/**
 * The small JSON objects of a repository (config, manifests, WAL records, verification records,
 * reservations, lock claims): written whole in one replayable put (a transient storage fault is
 * retried), read whole and validated against their schema. Big data never goes through here.
 */
export async function writeJson(backend: StorageBackend, key: string, value: unknown, options: OperationOptions & { pretty?: boolean } = {}): Promise<void> {
  const bytes = Buffer.from(JSON.stringify(value, null, options.pretty === false ? undefined : 2) + "\n");
  await backend.put(key, replayable(() => Readable.from([bytes])), { signal: options.signal });
}

export type JsonRead<T> = { status: "ok"; value: T } | { status: "missing" } | { status: "invalid"; reason: string };

/** Read and validate one object; never throws for a missing or malformed object (storage faults still throw). */
export async function readJson<T>(backend: StorageBackend, key: string, schema: z.ZodType<T>, options: OperationOptions = {}): Promise<JsonRead<T>> {
  let text: string;
  try {
    text = await readAllText(await backend.get(key, undefined, options));
  } catch (err) {
    if (err instanceof HoldfastError && err.code === "NOT_FOUND") return { status: "missing" };
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { status: "invalid", reason: "not valid JSON" };
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { status: "invalid", reason: `invalid at ${issue?.path.join(".") || "(root)"}: ${issue?.message}` };
  }
  return { status: "ok", value: result.data };
}
