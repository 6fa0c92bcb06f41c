import { open } from "node:fs/promises";
import { resolve } from "node:path";
import { HoldfastError, fromSystemError } from "../errors.js";
import type { Settings } from "../config/load.js";
import type { CommandContext } from "./context.js";
import { openRepository } from "./open-repository.js";
import { keyFileText, keysOf } from "../repository/keyring.js";

export interface KeyExportResult {
  repository: string;
  out: string;
  /** The public key the identity belongs to (what the repository encrypts to). */
  recipient: string;
  /** How many identities the file holds (more than one after `key rotate`). */
  keys: number;
}

/**
 * Write the repository's age identities (the keys the passphrase protects: the current one and the
 * older ones `key rotate` kept) to a new 0600 file, so a disaster recovery can run
 * `age -d -i <file>` on any backup without a terminal and without Holdfast. The
 * passphrase is needed once, here. The file refuses to replace an existing one.
 */
export async function exportKey(out: string, settings: Settings, ctx: CommandContext): Promise<KeyExportResult> {
  const { repo, keys } = await openRepository(settings, "required");
  const enc = repo.config.encryption;
  if (enc.mode === "none") throw new HoldfastError("USAGE", `the repository at ${repo.backend.location} is not encrypted: there is no key to export`);
  if (enc.mode === "recipients") {
    throw new HoldfastError("USAGE", `the repository at ${repo.backend.location} is encrypted to your own age keys (${enc.recipients.join(", ")}): their identity files are the keys`, { hint: "keep those identity files safe; there is nothing else to export" });
  }
  // Every key of the keyring, newest first: age tries each, so one file opens every backup.
  const all = await keysOf(keys!.identities);
  const path = resolve(out);
  let handle;
  try {
    handle = await open(path, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new HoldfastError("TARGET_EXISTS", `${path} already exists`, { hint: "choose a new file; an exported key is never overwritten" });
    throw fromSystemError(err, path);
  }
  try {
    await handle.writeFile(`# Holdfast repository identities for ${repo.backend.location} (${all.length} key(s), newest first)\n${keyFileText(all)}`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  ctx.log.info({ repo: repo.backend.location, out: path }, "repository key exported");
  return { repository: repo.backend.location, out: path, recipient: enc.recipients[0]!, keys: all.length };
}
