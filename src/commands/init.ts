import { HoldfastError } from "../errors.js";
import { Repository } from "../repository/repository.js";
import { openBackend } from "../storage/open.js";
import type { S3Settings } from "../storage/s3-settings.js";
import { HOLDFAST_VERSION, type CommandContext } from "./context.js";

export interface InitRequest {
  location: string;
  encryption: "age" | "none";
  passphrase?: string;
  recipients?: string[];
  scryptWorkFactor?: number;
  /** Options for s3:// locations. */
  s3?: S3Settings;
}

export async function initRepository(req: InitRequest, ctx: CommandContext): Promise<{ location: string; encryption: string }> {
  const backend = openBackend(req.location, { s3: req.s3 });
  let mode: "none" | "passphrase" | "recipients";
  if (req.encryption === "none") mode = "none";
  else if (req.recipients && req.recipients.length > 0) mode = "recipients";
  else if (req.passphrase) mode = "passphrase";
  else {
    throw new HoldfastError("USAGE", "--encryption age needs --passphrase-file (or HOLDFAST_PASSPHRASE_FILE / HOLDFAST_PASSPHRASE) or --recipient age1…", {
      hint: "or choose --encryption none",
    });
  }
  const repo = await Repository.init(backend, {
    encryption: mode,
    passphrase: req.passphrase,
    recipients: req.recipients,
    scryptWorkFactor: req.scryptWorkFactor,
    holdfastVersion: HOLDFAST_VERSION,
  });
  ctx.log.info({ repo: backend.location, encryption: mode }, "repository initialised");
  return { location: backend.location, encryption: repo.config.encryption.mode };
}
