import { createCipheriv, createHmac, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from "node:crypto";

/**
 * The age v1 header for X25519 recipients (age1…), made with node:crypto
 * (https://age-encryption.org/v1: "X25519 recipient stanza" and "header MAC"). It is what the
 * age-encryption library writes, without loading that library and its web streams: a WAL push
 * makes one header per segment, and loading them was a tenth of a lone push's time. Any other
 * kind of recipient returns undefined and the library makes the header.
 */

const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
/** DER prefix of an X25519 SubjectPublicKeyInfo; the raw 32-byte key follows it. */
const X25519_SPKI = Buffer.from("302a300506032b656e032100", "hex");
const X25519_INFO = "age-encryption.org/v1/X25519";

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i]!;
  }
  return chk;
}

/** The 32-byte key of an age1… recipient (BIP 173 Bech32, checksum verified), else undefined. */
export function x25519RecipientKey(recipient: string): Buffer | undefined {
  const s = recipient.toLowerCase();
  if (s !== recipient && recipient.toUpperCase() !== recipient) return undefined;
  const sep = s.lastIndexOf("1");
  if (s.slice(0, sep) !== "age" || s.length - sep - 1 < 6) return undefined;
  const data: number[] = [];
  for (const c of s.slice(sep + 1)) {
    const v = CHARSET.indexOf(c);
    if (v < 0) return undefined;
    data.push(v);
  }
  const hrp = [...s.slice(0, sep)].map((c) => c.charCodeAt(0));
  if (polymod([...hrp.map((c) => c >> 5), 0, ...hrp.map((c) => c & 31), ...data]) !== 1) return undefined;
  // 5-bit groups → bytes; the padding left over must be zero bits.
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  for (const v of data.slice(0, -6)) {
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >>> bits) & 0xff);
    }
  }
  if (bits >= 5 || (acc & ((1 << bits) - 1)) !== 0 || out.length !== 32) return undefined;
  return Buffer.from(out);
}

const b64 = (b: Buffer) => b.toString("base64").replace(/=+$/, "");

function stanza(recipient: Buffer, fileKey: Buffer): string {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const share = publicKey.export({ format: "der", type: "spki" }).subarray(X25519_SPKI.length);
  const theirs: KeyObject = createPublicKey({ key: Buffer.concat([X25519_SPKI, recipient]), format: "der", type: "spki" });
  const shared = diffieHellman({ privateKey, publicKey: theirs });
  if (shared.every((b) => b === 0)) throw new Error("age recipient is a low-order point");
  const wrapKey = Buffer.from(hkdfSync("sha256", shared, Buffer.concat([share, recipient]), X25519_INFO, 32));
  const cipher = createCipheriv("chacha20-poly1305", wrapKey, Buffer.alloc(12), { authTagLength: 16 });
  const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
  return `-> X25519 ${b64(share)}\n${b64(body)}\n`;
}

/** header (through the MAC line) and the fresh 16-byte file key; undefined unless every recipient is age1…. */
export function x25519Header(recipients: string[]): { header: Buffer; fileKey: Buffer } | undefined {
  const keys = recipients.map(x25519RecipientKey);
  if (keys.length === 0 || keys.some((k) => !k)) return undefined;
  const fileKey = randomBytes(16);
  const upToMac = `age-encryption.org/v1\n${keys.map((k) => stanza(k!, fileKey)).join("")}---`;
  const macKey = Buffer.from(hkdfSync("sha256", fileKey, Buffer.alloc(0), "header", 32));
  const mac = createHmac("sha256", macKey).update(upToMac).digest();
  return { header: Buffer.from(`${upToMac} ${b64(mac)}\n`), fileKey };
}
