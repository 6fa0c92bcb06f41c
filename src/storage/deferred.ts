import type { Readable } from "node:stream";
import { HoldfastError } from "../errors.js";
import type { ByteRange, ExclusiveCreate, IncompleteUploadSweeper, OperationOptions, StorageBackend, StoredObject } from "./backend.js";
import { canCreateExclusive, supportsSweep } from "./backend.js";

/**
 * A backend built on first use: `load` runs once, when an operation needs the real backend. This
 * lets opening a repository stay cheap (the S3 backend and its SDK are imported only when an S3
 * repository is actually read or written). Same contract as the backend it loads; its optional
 * capabilities are passed through when the loaded backend has them.
 */
export class DeferredBackend implements StorageBackend, ExclusiveCreate, IncompleteUploadSweeper {
  private loaded?: Promise<StorageBackend>;

  constructor(
    readonly location: string,
    private readonly load: () => Promise<StorageBackend>,
  ) {}

  private inner(): Promise<StorageBackend> {
    this.loaded ??= this.load();
    return this.loaded;
  }

  async put(key: string, body: Readable, options?: OperationOptions): Promise<StoredObject> {
    return (await this.inner()).put(key, body, options);
  }

  async get(key: string, range?: ByteRange, options?: OperationOptions): Promise<Readable> {
    return (await this.inner()).get(key, range, options);
  }

  async stat(key: string, options?: OperationOptions): Promise<StoredObject | undefined> {
    return (await this.inner()).stat(key, options);
  }

  async *list(prefix: string, options?: OperationOptions): AsyncIterable<StoredObject> {
    yield* (await this.inner()).list(prefix, options);
  }

  async delete(key: string, options?: OperationOptions): Promise<void> {
    return (await this.inner()).delete(key, options);
  }

  async exclusiveCreateSupported(options?: OperationOptions): Promise<boolean> {
    return canCreateExclusive(await this.inner(), options);
  }

  async createExclusive(key: string, body: Buffer, options?: OperationOptions): Promise<boolean> {
    const inner = (await this.inner()) as StorageBackend & Partial<ExclusiveCreate>;
    if (typeof inner.createExclusive !== "function") throw new HoldfastError("INTERNAL", `${this.location} cannot create objects exclusively`);
    return inner.createExclusive(key, body, options);
  }

  async sweepIncomplete(maxAgeMs: number, options?: OperationOptions): Promise<number | "unsupported"> {
    const inner = await this.inner();
    return supportsSweep(inner) ? inner.sweepIncomplete(maxAgeMs, options) : "unsupported";
  }
}
