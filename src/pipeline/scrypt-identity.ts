import { createDecipheriv, scrypt } from "node:crypto";
import type { Identity, Stanza } from "age-encryption";

const LABEL = "age-encryption.org/v1/scrypt";
/** As age: a file may not make us spend more than 2^20 (1 GiB of scrypt memory). */
const MAX_LOG_N = 20;

/**
 * age's scrypt (passphrase) identity on Node's native scrypt: the same stanza and file key as
 * age-encryption's built-in one, but derived on the libuv thread pool instead of the JavaScript
 * thread, so a process that unlocks the repository (the daemon) keeps answering meanwhile; it is
 * also about twice as fast.
 */
export class ScryptPassphraseIdentity implements Identity {
  constructor(private readonly passphrase: string) {}

  async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
    for (const s of stanzas) {
      if (s.args[0] !== "scrypt") continue;
      if (stanzas.length !== 1) throw new Error("scrypt recipient is not the only one in the header");
      const [, saltText = "", logNText = ""] = s.args;
      if (s.args.length !== 3 || !/^[1-9][0-9]*$/.test(logNText) || !/^[A-Za-z0-9+/]{22}$/.test(saltText)) throw new Error("invalid scrypt stanza");
      const logN = Number(logNText);
      if (logN > MAX_LOG_N) throw new Error("scrypt work factor is too high");
      const salt = Buffer.concat([Buffer.from(LABEL), Buffer.from(saltText, "base64")]);
      return openFileKey(s.body, await derive(this.passphrase, salt, logN));
    }
    return null;
  }
}

function derive(passphrase: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    scrypt(passphrase, salt, 32, { N, r: 8, p: 1, maxmem: 128 * N * 8 + (1 << 20) }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** ChaCha20-Poly1305 with a zero nonce (the key is used once); null when the passphrase is wrong. */
function openFileKey(body: Uint8Array, key: Buffer): Uint8Array | null {
  if (body.length !== 32) throw new Error("invalid stanza");
  const decipher = createDecipheriv("chacha20-poly1305", key, Buffer.alloc(12), { authTagLength: 16 });
  decipher.setAuthTag(body.subarray(16));
  try {
    return Buffer.concat([decipher.update(body.subarray(0, 16)), decipher.final()]);
  } catch {
    return null;
  }
}
