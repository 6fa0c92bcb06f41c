import { Readable } from "node:stream";
import { HoldfastError } from "../errors.js";
import type { StorageBackend } from "../storage/backend.js";
import { replayable } from "../storage/retry.js";
import { copyRelation, sha256Hex } from "./keyring.js";
import { withKeysLock } from "./key-lock.js";
import { CONFIG_KEY, KEY_FILE_KEY, KEY_FILE_STAGING_KEY } from "./layout.js";
import { sealed, writeJson } from "./json-object.js";
import { readAllBuffer } from "./read-text.js";
import type { KeyEntry, RepoConfig } from "./repo-config.js";
import { Repository } from "./repository.js";

/** What a key change writes: the sealed key file's bytes and the public facts that go with them. */
export interface KeyChange {
  sealedKeyFile: Buffer;
  /** The current key's public half (new files are encrypted to it). */
  recipient: string;
  keys: KeyEntry[];
  sealedAt: string;
}

/**
 * Replace the key file so that a process killed at any moment leaves a repository that opens with
 * the old key file or the new one, never neither, and keeps the key file at its usual name:
 *   1. the new file is written next to the old (keys/repository.key.next.age);
 *   2. holdfast.json names it: one atomic put, the switch;
 *   3. the new bytes are written over keys/repository.key.age;
 *   4. holdfast.json names that again (same keys, same seal);
 *   5. the staged file is removed.
 * Killed after 2 or 3, holdfast.json names the staged file, which is complete: settleKeyFile()
 * (run by every key command) finishes steps 3–5. Killed before 2, the staged file is ignored and
 * removed. Works on any backend whose put is atomic (local folder: rename; S3: PutObject).
 */
export async function switchKeyFile(repo: Repository, change: KeyChange): Promise<Repository> {
  const enc = repo.config.encryption;
  if (enc.mode !== "passphrase") throw new HoldfastError("INTERNAL", "key file switch on a repository without a key file");
  const keyring = { keys: change.keys, sealedAt: change.sealedAt, keyFileSha256: sha256Hex(change.sealedKeyFile) };
  const configNaming = (keyFile: string): RepoConfig => ({ ...repo.config, encryption: { mode: "passphrase", recipients: [change.recipient], keyFile, keyring } });
  await putBytes(repo.backend, KEY_FILE_STAGING_KEY, change.sealedKeyFile);
  await writeJson(repo.backend, CONFIG_KEY, sealed(configNaming(KEY_FILE_STAGING_KEY)));
  await putBytes(repo.backend, KEY_FILE_KEY, change.sealedKeyFile);
  await writeJson(repo.backend, CONFIG_KEY, sealed(configNaming(KEY_FILE_KEY)));
  await repo.backend.delete(KEY_FILE_STAGING_KEY);
  return Repository.open(repo.backend);
}

/**
 * Finish a key switch that was interrupted (see switchKeyFile): no passphrase needed, only bytes
 * move. Returns the repository as it is afterwards, and whether anything was left to do.
 */
export async function settleKeyFile(repo: Repository): Promise<{ repo: Repository; settled: boolean }> {
  const enc = repo.config.encryption;
  if (enc.mode !== "passphrase") return { repo, settled: false };
  if (enc.keyFile !== KEY_FILE_STAGING_KEY) {
    if (!(await repo.backend.stat(KEY_FILE_STAGING_KEY))) return { repo, settled: false };
    await repo.backend.delete(KEY_FILE_STAGING_KEY); // written by a switch killed before it switched
    return { repo, settled: true };
  }
  const bytes = await readAllBuffer(await repo.backend.get(KEY_FILE_STAGING_KEY));
  if (enc.keyring && sha256Hex(bytes) !== enc.keyring.keyFileSha256) {
    throw new HoldfastError("CORRUPTED", `${repo.backend.location}/${KEY_FILE_STAGING_KEY} does not match the SHA-256 holdfast.json records`, { hint: "copy the key file and holdfast.json back from an offsite copy" });
  }
  await putBytes(repo.backend, KEY_FILE_KEY, bytes);
  await writeJson(repo.backend, CONFIG_KEY, sealed({ ...repo.config, encryption: { ...enc, keyFile: KEY_FILE_KEY } }));
  await repo.backend.delete(KEY_FILE_STAGING_KEY);
  return { repo: await Repository.open(repo.backend), settled: true };
}

async function putBytes(backend: StorageBackend, key: string, bytes: Buffer): Promise<void> {
  await backend.put(key, replayable(() => Readable.from([bytes])));
}

/**
 * Bring a copy of this repository (an offsite copy) to this repository's keys: after a passphrase
 * change or a rotation here, the copy gets the same key file and key facts, by the same crash-safe
 * switch, under the copy's own keys lock. Refuses a copy of another repository, or one whose keys
 * were changed there (newer than here).
 */
export async function syncKeys(primary: Repository, copy: Repository, options: { waitMs: number; signal?: AbortSignal }): Promise<{ repo: Repository; updated: boolean }> {
  const first = copyRelation(primary.config, copy.config);
  if (first === "same") return { repo: copy, updated: false };
  if (first !== "older") throw notACopy(primary, copy, first);
  return withKeysLock(copy.backend, `key update from ${primary.backend.location}`, options, async () => {
    const { repo: there } = await settleKeyFile(await Repository.open(copy.backend));
    const relation = copyRelation(primary.config, there.config);
    if (relation === "same") return { repo: there, updated: false };
    const enc = primary.config.encryption;
    if (relation !== "older" || enc.mode !== "passphrase" || !enc.keyring) throw notACopy(primary, there, relation);
    const bytes = await readAllBuffer(await primary.backend.get(enc.keyFile));
    if (sha256Hex(bytes) !== enc.keyring.keyFileSha256) throw new HoldfastError("CORRUPTED", `${primary.backend.location}/${enc.keyFile} does not match the SHA-256 holdfast.json records`);
    const repo = await switchKeyFile(there, { sealedKeyFile: bytes, recipient: enc.recipients[0]!, keys: enc.keyring.keys, sealedAt: enc.keyring.sealedAt });
    return { repo, updated: true };
  });
}

function notACopy(primary: Repository, copy: Repository, relation: string): HoldfastError {
  if (relation === "newer") {
    return new HoldfastError("REPO_NOT_EMPTY", `${copy.backend.location} has newer keys than ${primary.backend.location} (its passphrase or key was changed there)`, {
      hint: "change keys on the primary repository only; copy holdfast.json and keys/ from the copy back to the primary if that change was meant",
    });
  }
  return new HoldfastError("REPO_NOT_EMPTY", `${copy.backend.location} is a different repository (other keys) than ${primary.backend.location}`, {
    hint: "copy to an empty location or to an earlier copy of this repository",
  });
}
