import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { Decrypter, Encrypter } from "age-encryption";
import { HoldfastError } from "../errors.js";
import type { AgeKeys } from "../pipeline/age.js";
import type { JsonValue } from "./values.js";

/**
 * Sensitive columns: each value is sealed on its own, so no stream holds it in plaintext, whatever
 * the export's own encryption. One random 32-byte data key per export, stored in export.json as an
 * age file to the repository's recipients (`age -d` opens it with the repository key); each value
 * is ChaCha20-Poly1305 under that key with a random 96-bit nonce, the column ("table.column") as
 * associated data, over the value's JSON encoding (values.ts). Written as base64(nonce ‖ ciphertext ‖ tag).
 */
const NONCE = 12;
const TAG = 16;

export class ValueSealer {
  private constructor(readonly key: Buffer) {}

  static fresh(): ValueSealer {
    return new ValueSealer(randomBytes(32));
  }

  /** The data key as an age file (base64) to these recipients. */
  async sealedKey(recipients: readonly string[]): Promise<string> {
    const e = new Encrypter();
    for (const r of recipients) e.addRecipient(r);
    return Buffer.from(await e.encrypt(new Uint8Array(this.key))).toString("base64");
  }

  /** Open the data key of an export with the repository's identities. */
  static async open(keyAge: string, keys: AgeKeys | undefined, where: string): Promise<ValueSealer> {
    if (!keys?.identities.length) throw new HoldfastError("WRONG_KEY", `${where} holds sealed columns and no repository key was given`, { hint: "use --passphrase-file / HOLDFAST_PASSPHRASE_FILE or --identity-file" });
    const d = new Decrypter();
    for (const id of keys.identities) d.addIdentity(id);
    try {
      return new ValueSealer(Buffer.from(await d.decrypt(Buffer.from(keyAge, "base64"))));
    } catch (err) {
      throw new HoldfastError("WRONG_KEY", `the repository key does not open the sealed columns of ${where}`, { cause: err });
    }
  }

  seal(column: string, value: JsonValue): string {
    const nonce = randomBytes(NONCE);
    const c = createCipheriv("chacha20-poly1305", this.key, nonce, { authTagLength: TAG });
    c.setAAD(Buffer.from(column), { plaintextLength: 0 });
    const body = Buffer.concat([c.update(JSON.stringify(value)), c.final()]);
    return Buffer.concat([nonce, body, c.getAuthTag()]).toString("base64");
  }

  open(column: string, sealed: unknown, where: string): JsonValue {
    const raw = typeof sealed === "string" ? Buffer.from(sealed, "base64") : Buffer.alloc(0);
    if (raw.length < NONCE + TAG) throw new HoldfastError("CORRUPTED", `${where}: sealed value of ${column} is malformed`);
    const d = createDecipheriv("chacha20-poly1305", this.key, raw.subarray(0, NONCE), { authTagLength: TAG });
    d.setAAD(Buffer.from(column), { plaintextLength: 0 });
    d.setAuthTag(raw.subarray(raw.length - TAG));
    try {
      return JSON.parse(Buffer.concat([d.update(raw.subarray(NONCE, raw.length - TAG)), d.final()]).toString("utf8")) as JsonValue;
    } catch (err) {
      throw new HoldfastError("CORRUPTED", `${where}: sealed value of ${column} fails its authentication`, { cause: err });
    }
  }
}
