import { open, type FileHandle } from "node:fs/promises";
import { HoldfastError } from "../errors.js";
import { JsonDocument, type DecodedValue } from "./values.js";

/** A value as JSON for a reject line or a plan: integers beyond 2^53−1 as strings, bytes as {base64}. */
export function jsonOf(v: DecodedValue | undefined): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === "bigint") return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return { base64: v.toString("base64") };
  if (v instanceof JsonDocument) return v.value;
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  return v;
}

export interface RejectLine {
  table: string;
  key: Record<string, unknown>;
  column: string;
  reason: string;
  value: unknown;
}

/**
 * The reject file: one JSON line per row that could not convert (table, key, column, reason, the
 * exported value). Created (0600) at the first reject only, so a clean import leaves no file.
 */
export class RejectFile {
  private handle: FileHandle | undefined;
  count = 0;

  constructor(readonly path: string) {}

  async write(line: RejectLine): Promise<void> {
    try {
      if (!this.handle) {
        this.handle = await open(this.path, "w", 0o600);
        await this.handle.chmod(0o600); // an existing file keeps its mode otherwise
      }
      await this.handle.write(JSON.stringify(line) + "\n");
    } catch (err) {
      throw new HoldfastError("USAGE", `cannot write the reject file ${this.path}: ${(err as Error).message}`, { hint: "choose another place with --rejects" });
    }
    this.count++;
  }

  get written(): boolean {
    return this.handle !== undefined;
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}
