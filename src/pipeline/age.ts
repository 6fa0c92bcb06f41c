import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import type { Recipient, Stanza } from "age-encryption";
import { HoldfastError } from "../errors.js";
import { x25519Header } from "./age-header.js";

/**
 * The age v1 format (https://age-encryption.org/v1), so `age -d` can read every stored file.
 * Headers for age1… recipients are made with node:crypto (age-header.ts); other headers are made,
 * and every header is opened, by the age-encryption library (loaded only then). The payload
 * (STREAM of 64 KiB ChaCha20-Poly1305 chunks) is done here with node:crypto, which is an order of
 * magnitude faster than the library's pure-JS web stream and keeps back-pressure.
 */
const CHUNK = 64 * 1024;
const TAG = 16;
const NONCE = 16;

export interface AgeKeys {
  /** age1… public keys every new file is encrypted to. */
  recipients: string[];
  /** AGE-SECRET-KEY-1… identities used to read files; absent when only writing is possible. */
  identities: string[];
}

function streamKey(fileKey: Uint8Array, nonce: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", fileKey, nonce, "payload", 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 5, 6); // 11-byte big-endian counter; 2^48 chunks is far beyond any file
  n[11] = last ? 1 : 0;
  return n;
}

/** Builds a header for a fresh random file key; returns both. */
async function newHeader(recipients: string[]): Promise<{ header: Buffer; fileKey: Uint8Array }> {
  if (recipients.length === 0) throw new HoldfastError("WRONG_KEY", "no age recipient configured for encryption");
  const native = x25519Header(recipients);
  if (native) return native;
  const { Encrypter } = await import("age-encryption");
  let captured: Uint8Array | undefined;
  const capture: Recipient = {
    wrapFileKey(fileKey: Uint8Array): Stanza[] {
      captured = fileKey.slice();
      return [];
    },
  };
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  e.addRecipient(capture);
  // Encrypting nothing yields header ‖ nonce(16) ‖ tag of the empty final chunk(16).
  const sealed = await e.encrypt(new Uint8Array(0));
  if (!captured) throw new Error("age header: file key was not produced");
  return { header: Buffer.from(sealed.subarray(0, sealed.length - NONCE - TAG)), fileKey: captured };
}

export class AgeEncryptStream extends Transform {
  /** Plaintext of the chunk being filled; sealed once full and more bytes are known to follow. */
  private readonly chunk = Buffer.allocUnsafe(CHUNK);
  private filled = 0;
  private counter = 0;
  private key: Buffer | undefined;

  constructor(private readonly recipients: string[]) {
    super({ highWaterMark: 4 * CHUNK });
  }

  private async start(): Promise<void> {
    const { header, fileKey } = await newHeader(this.recipients);
    const nonce = randomBytes(NONCE);
    this.key = streamKey(fileKey, nonce);
    this.push(header);
    this.push(nonce);
  }

  private seal(plain: Buffer, last: boolean): Buffer {
    const cipher = createCipheriv("chacha20-poly1305", this.key!, chunkNonce(this.counter++, last), { authTagLength: TAG });
    return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  }

  /** Synchronous once the header is out: small input pieces are copied, whole chunks sealed in place. */
  private absorb(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      // Only the final chunk may carry the "last" flag, so a full chunk is sealed when more bytes come.
      if (this.filled === CHUNK) {
        this.push(this.seal(this.chunk, false));
        this.filled = 0;
      }
      if (this.filled === 0 && data.length - offset > CHUNK) {
        this.push(this.seal(data.subarray(offset, offset + CHUNK), false));
        offset += CHUNK;
        continue;
      }
      const n = Math.min(CHUNK - this.filled, data.length - offset);
      data.copy(this.chunk, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
    }
  }

  override _transform(data: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.key) {
      this.absorb(data);
      done();
      return;
    }
    this.start().then(() => {
      this.absorb(data);
      done();
    }, done);
  }

  override _flush(done: TransformCallback): void {
    const finish = (): void => {
      this.push(this.seal(this.chunk.subarray(0, this.filled), true));
      done();
    };
    if (this.key) finish();
    else this.start().then(finish, done);
  }
}

const HEADER_END = Buffer.from("\n--- ");

export class AgeDecryptStream extends Transform {
  private buffered: Buffer = Buffer.alloc(0);
  private key: Buffer | undefined;
  private counter = 0;
  private headerDone = false;
  private finished = false;

  constructor(private readonly identities: string[], private readonly where: string) {
    super({ highWaterMark: 4 * CHUNK });
  }

  private async openHeader(): Promise<boolean> {
    const marker = this.buffered.indexOf(HEADER_END);
    if (marker < 0) {
      if (this.buffered.length > 1 << 20) throw this.corrupt("no age header found");
      return false;
    }
    const lineEnd = this.buffered.indexOf(0x0a, marker + 1);
    if (lineEnd < 0 || this.buffered.length < lineEnd + 1 + NONCE) return false;
    const header = this.buffered.subarray(0, lineEnd + 1);
    if (!header.subarray(0, 22).equals(Buffer.from("age-encryption.org/v1\n"))) throw this.corrupt("not an age file");
    if (this.identities.length === 0) {
      throw new HoldfastError("WRONG_KEY", `no key available to decrypt ${this.where}`, {
        hint: "give the passphrase (--passphrase-file or HOLDFAST_PASSPHRASE_FILE) or an identity file",
      });
    }
    const { Decrypter } = await import("age-encryption");
    const d = new Decrypter();
    for (const id of this.identities) d.addIdentity(id);
    let fileKey: Uint8Array;
    try {
      fileKey = await d.decryptHeader(header);
    } catch (err) {
      const msg = (err as Error).message ?? "";
      if (msg.includes("no identity matched")) {
        throw new HoldfastError("WRONG_KEY", `the key does not open ${this.where}`, {
          hint: "this file was encrypted for a different repository key",
        });
      }
      throw this.corrupt(`damaged age header (${msg})`);
    }
    const nonce = this.buffered.subarray(lineEnd + 1, lineEnd + 1 + NONCE);
    this.key = streamKey(fileKey, Buffer.from(nonce));
    this.buffered = this.buffered.subarray(lineEnd + 1 + NONCE);
    this.headerDone = true;
    return true;
  }

  private corrupt(what: string): HoldfastError {
    return new HoldfastError("CORRUPTED", `${this.where}: ${what}`, { hint: "the stored file is damaged; use another backup or the offsite copy" });
  }

  private open(sealed: Buffer, last: boolean): Buffer {
    const decipher = createDecipheriv("chacha20-poly1305", this.key!, chunkNonce(this.counter++, last), { authTagLength: TAG });
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    try {
      const plain = decipher.update(sealed.subarray(0, sealed.length - TAG));
      const rest = decipher.final();
      // A stream cipher: final() only checks the tag and adds nothing; no copy of the chunk then.
      return rest.length ? Buffer.concat([plain, rest]) : plain;
    } catch {
      throw this.corrupt(`damaged: authentication failed in chunk ${this.counter - 1} (the stored bytes differ from what was written)`);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const go = async (): Promise<void> => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
      if (!this.headerDone && !(await this.openHeader())) return;
      if (this.finished && this.buffered.length) throw this.corrupt("data after the final chunk");
      // A full chunk is known not to be last only when more bytes follow it.
      let offset = 0;
      while (this.buffered.length - offset > CHUNK + TAG) {
        this.push(this.open(this.buffered.subarray(offset, offset + CHUNK + TAG), false));
        offset += CHUNK + TAG;
      }
      if (offset > 0) this.buffered = Buffer.from(this.buffered.subarray(offset));
    };
    go().then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    const go = async (): Promise<void> => {
      if (!this.headerDone && !(await this.openHeader())) {
        throw new HoldfastError("TRUNCATED", `${this.where}: file ends inside the age header`);
      }
      if (this.buffered.length < TAG) {
        throw new HoldfastError("TRUNCATED", `${this.where}: encrypted data ends before its final chunk`);
      }
      try {
        this.push(this.open(this.buffered, true));
      } catch (err) {
        // A stream cut exactly at a chunk boundary fails as "not last": call that truncation.
        throw new HoldfastError("TRUNCATED", `${this.where}: encrypted data is truncated or damaged at its end`, { cause: err });
      }
      this.finished = true;
    };
    go().then(() => done(), done);
  }
}
