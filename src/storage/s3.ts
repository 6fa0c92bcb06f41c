import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  type ServerSideEncryption,
  type StorageClass,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { HoldfastError } from "../errors.js";
import { randomBytes } from "node:crypto";
import type { ByteRange, ExclusiveCreate, IncompleteUploadSweeper, OperationOptions, StorageBackend, StoredObject } from "./backend.js";
import { assertSafeKey } from "./backend.js";
import { fromS3Error, httpStatusOf } from "./s3-errors.js";
import { exactRange } from "./s3-range.js";
import { describeS3, endpointForMessages, type S3Location, type S3Settings } from "./s3-settings.js";

/** Type only what we use of the client (real clients are injected). */
export type S3Like = Pick<S3Client, "send" | "config">;

const MiB = 1024 * 1024;

/**
 * A repository under s3://bucket/prefix. Atomic visibility comes from S3 itself: a PutObject or a
 * completed multipart upload appears whole or not at all. Uploads stream through lib-storage's
 * multipart Upload (at most partSize × (queueSize + 1) bytes in memory); a failed or aborted
 * upload is aborted so its parts do not linger, and sweepIncomplete() removes any that did.
 */
export class S3Backend implements StorageBackend, IncompleteUploadSweeper, ExclusiveCreate {
  readonly location: string;
  private readonly endpoint: string;
  private conditionalWrites?: Promise<boolean>;

  constructor(
    private readonly client: S3Like,
    private readonly where: S3Location,
    private readonly settings: S3Settings = {},
  ) {
    this.location = describeS3(where);
    this.endpoint = endpointForMessages(settings.endpoint);
  }

  private objectKey(key: string): string {
    assertSafeKey(key);
    return this.where.prefix + key;
  }

  private fail(err: unknown, key: string): HoldfastError {
    return fromS3Error(err, key ? `${this.location}/${key}` : this.location, this.where.bucket, this.endpoint);
  }

  async put(key: string, body: Readable, options: OperationOptions = {}): Promise<StoredObject> {
    const Key = this.objectKey(key);
    // Feed the SDK through our own stream: if the caller's body is destroyed early (no 'end'),
    // pipeline() errors this stream, the Upload sees an error instead of a short body, and
    // nothing is committed.
    const feed = new PassThrough({ highWaterMark: MiB });
    const feeding = pipeline(body, feed).catch((err: unknown) => feed.destroy(err as Error));
    const upload = new Upload({
      client: this.client as S3Client,
      params: {
        Bucket: this.where.bucket,
        Key,
        Body: feed,
        StorageClass: this.settings.storageClass as StorageClass | undefined,
        ServerSideEncryption: this.settings.sse as ServerSideEncryption | undefined,
        SSEKMSKeyId: this.settings.sse === "aws:kms" ? this.settings.kmsKeyId : undefined,
      },
      tags: Object.entries(this.settings.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
      // 5 MiB × 2 in flight keeps a backup under 200 MB RSS; raise both for throughput on real S3.
      partSize: (this.settings.partSizeMiB ?? 5) * MiB,
      queueSize: this.settings.queueSize ?? 2,
      // We abort ourselves: lib-storage's own abort replaces the original error with the abort's.
      leavePartsOnError: true,
    });
    const onAbort = () => void upload.abort().catch(() => undefined);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      if (options.signal?.aborted) throw Object.assign(new Error("aborted"), { name: "AbortError" });
      await upload.done();
    } catch (err) {
      const failure = this.fail(options.signal?.aborted ? Object.assign(new Error("aborted"), { name: "AbortError" }) : err, key);
      // Fail the caller's stream with the real reason, so the producing pipeline reports it
      // (rather than a "premature close" or a source's own abort).
      feed.destroy(failure);
      if (!body.destroyed) {
        body.once("error", () => undefined);
        body.destroy(failure);
      }
      await this.abortUpload(Key, upload.uploadId);
      throw failure;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      await feeding;
    }
    const stored = await this.stat(key, options);
    if (!stored) throw new HoldfastError("STORAGE_FAILED", `${this.location}/${key}: upload reported success but the object is not there`);
    return stored;
  }

  /**
   * PutObject with If-None-Match: * — the server refuses (412) when the key exists. A 412 after a
   * retried request may be our own first attempt: the body carries a unique token, so reading it
   * back tells.
   */
  async createExclusive(key: string, body: Buffer, options: OperationOptions = {}): Promise<boolean> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.where.bucket, Key: this.objectKey(key), Body: body, IfNoneMatch: "*" }), { abortSignal: options.signal });
      return true;
    } catch (err) {
      const status = httpStatusOf(err);
      if (status !== 412 && status !== 409) throw this.fail(err, key);
      const existing = await this.get(key, undefined, options).then(async (s) => {
        const chunks: Buffer[] = [];
        for await (const c of s) chunks.push(c as Buffer);
        return Buffer.concat(chunks);
      }, () => undefined);
      return existing !== undefined && existing.equals(body);
    }
  }

  /**
   * Not every S3-compatible server honours If-None-Match on PUT (some ignore it and overwrite).
   * Asked once per backend: write a probe key twice with the condition; the second must be refused.
   */
  exclusiveCreateSupported(options: OperationOptions = {}): Promise<boolean> {
    this.conditionalWrites ??= (async () => {
      const key = `locks/.conditional-write-probe-${randomBytes(8).toString("hex")}`;
      const put = () => this.client.send(new PutObjectCommand({ Bucket: this.where.bucket, Key: this.objectKey(key), Body: Buffer.from("probe"), IfNoneMatch: "*" }), { abortSignal: options.signal });
      try {
        await put();
        try {
          await put();
          return false; // the condition was ignored
        } catch (err) {
          const status = httpStatusOf(err);
          if (status === 412 || status === 409) return true;
          if (status === 501 || status === 400) return false;
          throw this.fail(err, key);
        }
      } catch (err) {
        const status = httpStatusOf(err);
        if (status === 501 || status === 400) return false;
        throw err instanceof HoldfastError ? err : this.fail(err, key);
      } finally {
        await this.delete(key).catch(() => undefined);
      }
    })();
    this.conditionalWrites.catch(() => (this.conditionalWrites = undefined));
    return this.conditionalWrites;
  }

  /** Best effort: a server that cannot abort leaves the parts to sweepIncomplete or its lifecycle rules. */
  private async abortUpload(Key: string, uploadId: string | undefined): Promise<void> {
    if (!uploadId) return;
    await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.where.bucket, Key, UploadId: uploadId })).catch(() => undefined);
  }

  async get(key: string, range?: ByteRange, options: OperationOptions = {}): Promise<Readable> {
    const Range = range ? `bytes=${range.start}-${range.end ?? ""}` : undefined;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.where.bucket, Key: this.objectKey(key), Range }), { abortSignal: options.signal });
      const body = out.Body;
      if (!(body instanceof Readable)) throw new HoldfastError("STORAGE_FAILED", `${this.location}/${key}: the S3 client returned no stream`);
      return range ? exactRange(body, range, out.ContentRange) : body;
    } catch (err) {
      throw this.fail(err, key);
    }
  }

  async stat(key: string, options: OperationOptions = {}): Promise<StoredObject | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.where.bucket, Key: this.objectKey(key) }), { abortSignal: options.signal });
      return { key, size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
    } catch (err) {
      // HEAD has no body, so a missing bucket is a bare 404 too and bad credentials a bare 403:
      // a one-key listing returns the precise error code.
      const status = httpStatusOf(err);
      if (status === 404 || status === 403) await this.assertBucket(options);
      if (status === 404) return undefined;
      throw this.fail(err, key);
    }
  }

  private async assertBucket(options: OperationOptions): Promise<void> {
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.where.bucket, Prefix: this.where.prefix, MaxKeys: 1 }), { abortSignal: options.signal });
    } catch (err) {
      throw this.fail(err, "");
    }
  }

  async *list(prefix: string, options: OperationOptions = {}): AsyncIterable<StoredObject> {
    let ContinuationToken: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.where.bucket, Prefix: this.where.prefix + prefix, ContinuationToken }),
          { abortSignal: options.signal },
        );
      } catch (err) {
        throw this.fail(err, prefix);
      }
      for (const obj of page.Contents ?? []) {
        if (!obj.Key) continue;
        yield { key: obj.Key.slice(this.where.prefix.length), size: obj.Size ?? 0, modifiedAt: obj.LastModified ?? new Date(0) };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async delete(key: string, options: OperationOptions = {}): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.where.bucket, Key: this.objectKey(key) }), { abortSignal: options.signal });
    } catch (err) {
      if (httpStatusOf(err) === 404 && (err as Error).name !== "NoSuchBucket") return;
      throw this.fail(err, key);
    }
  }

  /**
   * Abort multipart uploads under the prefix started more than maxAgeMs ago (left by a killed
   * process). Returns how many were aborted, or "unsupported" when the server has no
   * ListMultipartUploads (s3rver); such servers need a lifecycle rule instead.
   */
  async sweepIncomplete(maxAgeMs: number, options: OperationOptions = {}): Promise<number | "unsupported"> {
    let aborted = 0;
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.where.bucket, Prefix: this.where.prefix, KeyMarker, UploadIdMarker }),
          { abortSignal: options.signal },
        );
      } catch (err) {
        const status = httpStatusOf(err);
        if (status === 501 || status === 405 || (err as Error).name === "NotImplemented") return "unsupported";
        throw this.fail(err, "");
      }
      for (const up of page.Uploads ?? []) {
        if (!up.Key || !up.UploadId) continue;
        if (up.Initiated && Date.now() - up.Initiated.getTime() < maxAgeMs) continue;
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.where.bucket, Key: up.Key, UploadId: up.UploadId }), { abortSignal: options.signal });
          aborted++;
        } catch (err) {
          if (httpStatusOf(err) !== 404) throw this.fail(err, up.Key.slice(this.where.prefix.length));
        }
      }
      KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      UploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (KeyMarker);
    return aborted;
  }
}
