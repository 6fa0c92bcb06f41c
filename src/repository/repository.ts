import { Readable } from "node:stream";
import { HoldfastError } from "../errors.js";
import type { StorageBackend } from "../storage/backend.js";
import type { AgeKeys } from "../pipeline/age.js";
import { openWithPassphrase, sealWithPassphrase } from "../pipeline/passphrase.js";
import pLimit from "p-limit";
import { z } from "zod";
import { BACKUPS_PREFIX, CONFIG_KEY, KEY_FILE_KEY, MANIFEST_NAME, backupIdOf, backupPrefix, manifestKey } from "./layout.js";
import { manifestSchema, type Manifest } from "./manifest.js";
import { REPOSITORY_FORMAT_VERSION, repoConfigSchema, type RepoConfig } from "./repo-config.js";
import { compareBackupIds } from "./backup-id.js";
import { readAllBuffer } from "./read-text.js";
import { assertKeysComplete, identitiesOfRepository, keyEntries, keysInKeyFile, sha256Hex } from "./keyring.js";
import { readJson, sealed, writeJson } from "./json-object.js";
import { readReservation, reserveId, type Reservation, type ReservationRequest } from "./reservation.js";
import { assertSelected, pickLatest, type Selection } from "./selection.js";
import type { StoredObject } from "../storage/backend.js";

export interface InitOptions {
  encryption: "none" | "passphrase" | "recipients";
  passphrase?: string;
  recipients?: string[];
  /** scrypt log2 work factor for the key file (default 18, as `age -p`). */
  scryptWorkFactor?: number;
  holdfastVersion: string;
}

export interface Secrets {
  passphrase?: string;
  /**
   * AGE-SECRET-KEY-1… lines from an identity file: the keys of a recipients repository, or a
   * passphrase repository's keys as `holdfast key export` wrote them (used instead of the passphrase).
   */
  identities?: string[];
}

/** A backup id with objects but no manifest: in progress, or interrupted (invisible to restore). */
export interface IncompleteBackup {
  id: string;
  /** What its reservation says (absent for backups written before reservations existed). */
  reservation?: Reservation;
  /** The newest modification time of its objects. */
  lastWrittenAt: string;
  objects: number;
}

export interface Catalog {
  /** Complete backups (manifest present and valid), oldest first. */
  backups: Manifest[];
  /** Ids with stored objects but no manifest: interrupted (or still being written) backups. */
  incomplete: IncompleteBackup[];
  /** Backups whose manifest cannot be read or fails validation: never restorable, reported by list/check/verify. */
  damaged: { id: string; key: string; error: string }[];
}

/** Manifests are read this many at a time: bounded open files and memory at any repository size. */
const MANIFEST_READS = 16;

/**
 * Committed manifests never change: a process keeps what it read (the daemon reads the catalog
 * every minute), keyed by location, id, size and modification time, so a replaced or damaged
 * manifest is read again.
 */
const manifestCache = new Map<string, Manifest>();

/** A repository: its config, its keys and its catalog of backups, on any storage backend. */
export class Repository {
  private constructor(readonly backend: StorageBackend, readonly config: RepoConfig) {}

  static async init(backend: StorageBackend, options: InitOptions): Promise<Repository> {
    for await (const existing of backend.list("")) {
      throw new HoldfastError("REPO_NOT_EMPTY", `${backend.location} is not empty (found ${existing.key})`, {
        hint: "choose an empty folder or bucket prefix; an existing repository needs no init",
      });
    }
    let encryption: RepoConfig["encryption"];
    if (options.encryption === "passphrase") {
      if (!options.passphrase) throw new HoldfastError("USAGE", "--encryption age needs a passphrase (--passphrase-file or HOLDFAST_PASSPHRASE_FILE) or --recipient");
      const { generateIdentity, identityToRecipient } = await import("age-encryption");
      const identity = await generateIdentity();
      const keyFile = await sealWithPassphrase(identity + "\n", options.passphrase, options.scryptWorkFactor);
      await backend.put(KEY_FILE_KEY, Readable.from([keyFile]));
      encryption = { mode: "passphrase", recipients: [await identityToRecipient(identity)], keyFile: KEY_FILE_KEY };
    } else if (options.encryption === "recipients") {
      const recipients = options.recipients ?? [];
      if (recipients.length === 0 || recipients.some((r) => !/^age1[0-9a-z]+$/.test(r))) {
        throw new HoldfastError("USAGE", "--recipient must be an age public key (age1…)");
      }
      encryption = { mode: "recipients", recipients };
    } else {
      encryption = { mode: "none" };
    }
    const config: RepoConfig = {
      formatVersion: REPOSITORY_FORMAT_VERSION,
      createdAt: new Date().toISOString(),
      createdBy: `holdfast ${options.holdfastVersion}`,
      encryption,
    };
    // The config is written last: a repository exists once holdfast.json does.
    await writeJson(backend, CONFIG_KEY, sealed(config));
    return new Repository(backend, config);
  }

  static async open(backend: StorageBackend): Promise<Repository> {
    // Read as any JSON first: a newer format must say "upgrade", not fail the current schema.
    const read = await readJson(backend, CONFIG_KEY, z.unknown());
    if (read.status === "missing") {
      throw new HoldfastError("REPO_NOT_INITIALISED", `no Holdfast repository at ${backend.location}`, {
        hint: "create one with `holdfast repo init <location>` or check --repo / HOLDFAST_REPO",
      });
    }
    if (read.status === "invalid") {
      throw new HoldfastError("CORRUPTED", `${backend.location}/${CONFIG_KEY} is ${read.reason}`, read.reason.startsWith("damaged") ? { hint: "the offsite copy holds the same file; copy it back" } : {});
    }
    const parsed = read.value;
    const version = (parsed as { formatVersion?: unknown })?.formatVersion;
    if (typeof version === "number" && version > REPOSITORY_FORMAT_VERSION) {
      throw new HoldfastError("TOOL_VERSION", `repository format ${version} is newer than this Holdfast understands (${REPOSITORY_FORMAT_VERSION})`, { hint: "upgrade Holdfast" });
    }
    const result = repoConfigSchema.safeParse(parsed);
    if (!result.success) throw new HoldfastError("CORRUPTED", `${backend.location}/${CONFIG_KEY} is invalid: ${result.error.issues[0]?.message}`);
    return new Repository(backend, result.data);
  }

  get encrypted(): boolean {
    return this.config.encryption.mode !== "none";
  }

  /** Recipients new files are encrypted to, or undefined for a plaintext repository. */
  get recipients(): string[] | undefined {
    return this.config.encryption.mode === "none" ? undefined : this.config.encryption.recipients;
  }

  /**
   * The keys to read (and write) this repository. A passphrase repository opens its key file
   * once (one scrypt); a wrong passphrase fails here, before any data is touched.
   */
  async unlock(secrets: Secrets): Promise<AgeKeys | undefined> {
    const enc = this.config.encryption;
    if (enc.mode === "none") return undefined;
    if (enc.mode === "recipients") return { recipients: enc.recipients, identities: secrets.identities ?? [] };
    // An identity file (`holdfast key export`) opens the backups without the key file: no scrypt.
    if (secrets.identities?.length) return { recipients: enc.recipients, identities: await identitiesOfRepository(secrets.identities, this.config, this.backend.location) };
    if (!secrets.passphrase) {
      throw new HoldfastError("WRONG_KEY", `the repository at ${this.backend.location} is encrypted and no passphrase was given`, {
        hint: "use --passphrase-file, HOLDFAST_PASSPHRASE_FILE or HOLDFAST_PASSPHRASE",
      });
    }
    const where = `${this.backend.location}/${enc.keyFile}`;
    const sealed = await readAllBuffer(await this.backend.get(enc.keyFile).catch(() => {
      throw new HoldfastError("CORRUPTED", `repository key file missing: ${where}`);
    }));
    // Checked before the scrypt: a damaged key file is not reported as a wrong passphrase.
    if (enc.keyring && sha256Hex(sealed) !== enc.keyring.keyFileSha256) {
      throw new HoldfastError("CORRUPTED", `${where} does not match the SHA-256 holdfast.json records`, { hint: "the offsite copy holds the same file; copy it back" });
    }
    const keys = await keysInKeyFile(await openWithPassphrase(sealed, secrets.passphrase, where), where);
    assertKeysComplete(enc, keyEntries(this.config), keys, where);
    return { recipients: enc.recipients, identities: keys.map((k) => k.identity) };
  }

  async catalog(options: { signal?: AbortSignal } = {}): Promise<Catalog> {
    const byId = new Map<string, StoredObject[]>();
    for await (const obj of this.backend.list(BACKUPS_PREFIX, options)) {
      const id = backupIdOf(obj.key);
      if (!id) continue;
      const objects = byId.get(id);
      if (objects) objects.push(obj);
      else byId.set(id, [obj]);
    }
    const limit = pLimit(MANIFEST_READS);
    const withManifest: [string, StoredObject][] = [];
    const incompleteIds: string[] = [];
    for (const [id, objects] of byId) {
      const manifest = objects.find((o) => o.key === manifestKey(id));
      if (manifest) withManifest.push([id, manifest]);
      else incompleteIds.push(id);
    }
    withManifest.sort((a, b) => compareBackupIds(a[0], b[0]));
    const damaged: Catalog["damaged"] = [];
    const read = await Promise.all(
      withManifest.map(([id, obj]) =>
        limit(() =>
          this.cachedManifest(id, obj).catch((err: unknown) => {
            if (!(err instanceof HoldfastError) || err.code !== "CORRUPTED") throw err;
            damaged.push({ id, key: obj.key, error: err.message });
            return undefined;
          }),
        ),
      ),
    );
    const backups = read.filter((m): m is Manifest => m !== undefined);
    const incomplete = await Promise.all(
      incompleteIds.sort(compareBackupIds).map((id) =>
        limit(async (): Promise<IncompleteBackup> => {
          const objects = byId.get(id)!;
          const reservation = await readReservation(this.backend, objects.map((o) => o.key)).catch(() => undefined);
          const lastWrittenAt = new Date(Math.max(...objects.map((o) => o.modifiedAt.getTime()))).toISOString();
          return { id, reservation, lastWrittenAt, objects: objects.length };
        }),
      ),
    );
    return { backups, incomplete, damaged: damaged.sort((a, b) => compareBackupIds(a.id, b.id)) };
  }

  private async cachedManifest(id: string, obj: StoredObject): Promise<Manifest> {
    const key = `${this.backend.location}\0${id}\0${obj.size}\0${obj.modifiedAt.getTime()}`;
    const hit = manifestCache.get(key);
    if (hit) return hit;
    const manifest = await this.readManifest(id);
    if (manifestCache.size > 50_000) manifestCache.clear();
    manifestCache.set(key, manifest);
    return manifest;
  }

  async readManifest(id: string): Promise<Manifest> {
    const key = manifestKey(id);
    const read = await readJson(this.backend, key, manifestSchema);
    if (read.status === "ok") return read.value;
    if (read.status === "invalid") throw new HoldfastError("CORRUPTED", `manifest of backup ${id} is ${read.reason} (${this.backend.location}/${key})`);
    if (await hasAny(this.backend, backupPrefix(id))) {
      throw new HoldfastError("MANIFEST_MISSING", `backup ${id} has no manifest in ${this.backend.location}`, {
        hint: "it was interrupted or damaged and cannot be trusted; `holdfast prune` removes it",
      });
    }
    throw new HoldfastError("BACKUP_NOT_FOUND", `no backup ${id} in ${this.backend.location}`, { hint: "see `holdfast list`" });
  }


  /**
   * "latest" (the newest full backup of one source: see selection.ts), an exact id, or a unique id
   * prefix, within the selection.
   */
  async resolve(ref: string, selection: Selection = {}): Promise<Manifest> {
    if (ref !== "latest" && !ref.includes("/")) {
      const exact = await this.backend.stat(manifestKey(ref));
      if (exact) return assertSelected(await this.readManifest(ref), selection);
      // Its folder without a manifest: say so, never answer with a look-alike id (ref-1, ref-2).
      if (await hasAny(this.backend, backupPrefix(ref))) return this.readManifest(ref);
    }
    const { backups } = await this.catalog();
    if (ref === "latest") return pickLatest(backups, selection);
    const matches = backups.filter((m) => m.id.startsWith(ref));
    if (matches.length === 1) return assertSelected(matches[0]!, selection);
    if (matches.length > 1) throw new HoldfastError("USAGE", `backup id "${ref}" is ambiguous (${matches.length} match: ${matches.slice(0, 5).map((m) => m.id).join(", ")}${matches.length > 5 ? ", …" : ""})`);
    return this.readManifest(ref); // raises MANIFEST_MISSING or BACKUP_NOT_FOUND precisely
  }

  /** The commit point: once this put completes, the backup exists. */
  async commit(manifest: Manifest): Promise<void> {
    // Replayable (writeJson): a transient storage fault on the commit is retried (storage/retry.ts).
    await writeJson(this.backend, manifestKey(manifest.id), sealed(manifestSchema.parse(manifest)));
  }

  /** Reserve the id of a backup starting at `at` (atomic: see reservation.ts). */
  reserveId(at: Date, request: ReservationRequest, signal?: AbortSignal): Promise<Reservation> {
    return reserveId(this.backend, at, request, signal);
  }

  /** Best effort, after a failed backup: without a manifest it is invisible anyway, and prune removes leftovers. */
  async removeIncomplete(id: string): Promise<void> {
    await this.deleteBackup(id).catch(() => undefined);
  }

  /** Remove a backup: manifest first (so it stops existing at once), then its files. */
  async deleteBackup(id: string): Promise<void> {
    await this.backend.delete(manifestKey(id));
    const keys: string[] = [];
    for await (const obj of this.backend.list(backupPrefix(id))) keys.push(obj.key);
    for (const key of keys) if (!key.endsWith(MANIFEST_NAME)) await this.backend.delete(key);
  }
}

async function hasAny(backend: StorageBackend, prefix: string): Promise<boolean> {
  for await (const _ of backend.list(prefix)) return true;
  return false;
}
