import { HoldfastError } from "../errors.js";
import { ScryptPassphraseIdentity } from "./scrypt-identity.js";

// age-encryption is loaded when a passphrase is used, not at start-up: a WAL push never needs it.

/** Default scrypt work factor (2^18), as `age -p` uses; only the key file pays it, once a command. */
export const DEFAULT_SCRYPT_WORK_FACTOR = 18;

/** Encrypt a small secret as a standard passphrase-protected age file (`age -d` opens it). */
export async function sealWithPassphrase(secret: string, passphrase: string, workFactor = DEFAULT_SCRYPT_WORK_FACTOR): Promise<Buffer> {
  const { Encrypter } = await import("age-encryption");
  const e = new Encrypter();
  e.setPassphrase(passphrase);
  e.setScryptWorkFactor(workFactor);
  return Buffer.from(await e.encrypt(secret));
}

export async function openWithPassphrase(sealed: Buffer, passphrase: string, where: string): Promise<string> {
  const { Decrypter } = await import("age-encryption");
  const d = new Decrypter();
  d.addIdentity(new ScryptPassphraseIdentity(passphrase));
  try {
    return await d.decrypt(new Uint8Array(sealed), "text");
  } catch (err) {
    const msg = (err as Error).message ?? "";
    if (/no identity matched|incorrect passphrase|invalid header HMAC|decrypt/i.test(msg)) {
      throw new HoldfastError("WRONG_KEY", `wrong passphrase for ${where}`, {
        hint: "check --passphrase-file / HOLDFAST_PASSPHRASE_FILE / HOLDFAST_PASSPHRASE",
      });
    }
    throw new HoldfastError("CORRUPTED", `cannot read ${where}: ${msg}`);
  }
}
