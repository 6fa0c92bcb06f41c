import { readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { resolve, dirname, isAbsolute } from "node:path";
import { HoldfastError, registerSecret } from "../errors.js";
import { defaultLevel, levelRange, COMPRESSIONS, type Compression } from "../pipeline/compression.js";
import type { FileConfig } from "./schema.js";
import { parseDurationFlag } from "./duration.js";
import type { S3Settings } from "../storage/s3-settings.js";

/** Everything a command needs to know, merged: flags > environment > holdfast.yaml > defaults. */
export interface Settings {
  repo?: string;
  passphrase?: string;
  identities?: string[];
  /** The files the passphrase / identities were read from by flag or environment (handed to restore_command; never their content). */
  passphraseFile?: string;
  identityFile?: string;
  compression: { algorithm: Compression; level: number; threads?: number };
  labels: Record<string, string>;
  logFormat?: "json" | "text";
  logLevel: "debug" | "info" | "warn" | "error";
  tmpDir: string;
  lockWaitMs: number;
  databases: NonNullable<FileConfig["databases"]>;
  configPath?: string;
  /** Server for deep-verify scratch databases (PostgreSQL); defaults to the backup's own server. */
  scratchServer?: string;
  /** Options for s3:// repositories (never credentials). */
  s3?: S3Settings;
  /** Offsite copies (holdfast.yaml copy_to): each new backup is copied there. */
  copyTo?: string[];
  /** Operations sections of holdfast.yaml (retention, daemon HTTP, alerts); see config/ops-schema.ts. */
  ops?: Pick<FileConfig, "retention" | "timezone" | "http" | "alerts" | "run_missed_on_start" | "state_dir">;
}

export interface FlagSettings {
  config?: string;
  repo?: string;
  passphraseFile?: string;
  identityFile?: string;
  compression?: string;
  level?: string;
  label?: string[];
  logFormat?: string;
  logLevel?: string;
  lockWait?: string;
  scratch?: string;
  s3Endpoint?: string;
  s3Region?: string;
}

export async function loadSettings(flags: FlagSettings, env: NodeJS.ProcessEnv = process.env): Promise<Settings> {
  const configPath = flags.config ?? env.HOLDFAST_CONFIG ?? (await existingFile("holdfast.yaml"));
  const file = configPath ? await readConfigFile(configPath) : {};
  const base = configPath ? dirname(resolve(configPath)) : process.cwd();
  const relative = (p: string | undefined) => (p === undefined ? undefined : isAbsolute(p) || /^[a-z0-9]+:\/\//.test(p) ? p : resolve(base, p));

  const algorithm = (flags.compression ?? env.HOLDFAST_COMPRESSION ?? file.compression?.algorithm ?? "zstd") as Compression;
  if (!COMPRESSIONS.includes(algorithm)) {
    throw new HoldfastError("USAGE", `unknown compression "${algorithm}" (choose ${COMPRESSIONS.join(", ")})`);
  }
  const levelText = flags.level ?? env.HOLDFAST_COMPRESSION_LEVEL;
  const level = levelText !== undefined ? Number(levelText) : file.compression?.level ?? defaultLevel(algorithm);
  const [min, max] = levelRange(algorithm);
  if (algorithm !== "none" && (!Number.isInteger(level) || level < min || level > max)) {
    throw new HoldfastError("USAGE", `compression level ${levelText ?? level} is out of range for ${algorithm} (${min}..${max})`);
  }

  const passphraseFile = flags.passphraseFile ?? env.HOLDFAST_PASSPHRASE_FILE ?? relative(file.passphrase_file);
  const passphrase = await passphraseFrom(passphraseFile, env.HOLDFAST_PASSPHRASE);
  const identityFile = flags.identityFile ?? env.HOLDFAST_IDENTITY_FILE ?? relative(file.identity_file);
  const identities = identityFile ? parseIdentities(await readPrivateFile(identityFile, "identity file"), identityFile) : undefined;

  const labels = { ...(file.labels ?? {}) };
  for (const pair of flags.label ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new HoldfastError("USAGE", `--label expects key=value, got "${pair}"`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const logFormat = flags.logFormat ?? env.HOLDFAST_LOG_FORMAT ?? file.log?.format;
  if (logFormat !== undefined && logFormat !== "json" && logFormat !== "text") {
    throw new HoldfastError("USAGE", `--log-format must be json or text, got "${logFormat}"`);
  }
  const tmpDir = env.HOLDFAST_TMPDIR ?? relative(file.tmp_dir) ?? tmpdir();
  if (env.HOLDFAST_TMPDIR !== undefined || file.tmp_dir !== undefined) {
    const isFolder = await stat(tmpDir).then((st) => st.isDirectory(), () => false);
    if (!isFolder) {
      const where = env.HOLDFAST_TMPDIR !== undefined ? "HOLDFAST_TMPDIR" : `${configPath}: tmp_dir`;
      throw new HoldfastError(env.HOLDFAST_TMPDIR !== undefined ? "USAGE" : "CONFIG_INVALID", `${where}: ${tmpDir} is not an existing folder`, { hint: "create it, or point tmp_dir at a folder with room for snapshots" });
    }
  }
  const lockWait = flags.lockWait ?? env.HOLDFAST_LOCK_WAIT ?? file.lock_wait ?? "0s";
  const lockWaitMs = parseDurationFlag(lockWait, "--lock-wait", "30s or 5m");
  return {
    repo: flags.repo ?? env.HOLDFAST_REPO ?? relative(file.repo),
    passphrase,
    identities,
    passphraseFile: flags.passphraseFile ?? env.HOLDFAST_PASSPHRASE_FILE,
    identityFile: flags.identityFile ?? env.HOLDFAST_IDENTITY_FILE,
    compression: { algorithm, level: algorithm === "none" ? 0 : level, threads: file.compression?.threads },
    labels,
    logFormat,
    logLevel: (flags.logLevel ?? env.HOLDFAST_LOG_LEVEL ?? file.log?.level ?? "info") as Settings["logLevel"],
    tmpDir,
    lockWaitMs,
    databases: file.databases ?? {},
    configPath,
    scratchServer: flags.scratch ?? env.HOLDFAST_SCRATCH_SERVER,
    s3: s3Settings(flags, env, file.s3),
    ops: { retention: file.retention, timezone: file.timezone, http: file.http, alerts: file.alerts, run_missed_on_start: file.run_missed_on_start, state_dir: relative(file.state_dir) },
    copyTo: (Array.isArray(file.copy_to) ? file.copy_to : file.copy_to ? [file.copy_to] : []).map((l) => relative(l)!),
  };
}

function s3Settings(flags: FlagSettings, env: NodeJS.ProcessEnv, file: FileConfig["s3"] = {}): S3Settings {
  const pathStyle = env.HOLDFAST_S3_PATH_STYLE;
  return {
    // Empty environment values count as unset.
    endpoint: flags.s3Endpoint ?? (env.HOLDFAST_S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || file.endpoint),
    region: flags.s3Region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || file.region),
    pathStyle: pathStyle !== undefined ? pathStyle === "true" || pathStyle === "1" : file.path_style,
    storageClass: file.storage_class,
    sse: file.sse,
    kmsKeyId: file.kms_key_id,
    tags: file.tags,
    partSizeMiB: file.part_size_mib,
    queueSize: file.queue_size,
  };
}

async function existingFile(path: string): Promise<string | undefined> {
  return stat(path).then((s) => (s.isFile() ? path : undefined), () => undefined);
}

export async function readConfigFile(path: string): Promise<FileConfig> {
  // The parser and the schema (yaml, zod) load only when there is a file to read: archive_command
  // and other short commands given --repo never pay for them.
  const [{ parse: parseYaml }, { fileConfigSchema }] = await Promise.all([import("yaml"), import("./schema.js")]);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new HoldfastError("CONFIG_INVALID", `cannot read config file ${path}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new HoldfastError("CONFIG_INVALID", `${path}: not valid YAML (${(err as Error).message.split("\n")[0]})`);
  }
  const nul = findNul(doc, "");
  if (nul !== undefined) throw new HoldfastError("CONFIG_INVALID", `${path}: ${nul || "(root)"}: contains a NUL byte`);
  const result = fileConfigSchema.safeParse(doc);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const at = issue.path.join(".");
    const keys = issue.code === "unrecognized_keys" ? ` ${issue.keys.map((k) => (at ? `${at}.${k}` : k)).join(", ")}` : "";
    throw new HoldfastError("CONFIG_INVALID", `${path}: ${issue.code === "unrecognized_keys" ? `unknown key${keys}` : `${at || "(root)"}: ${issue.message}`}`);
  }
  return result.data;
}

/** The key path of the first string (or key) holding a NUL byte: never valid in a path or a name. */
function findNul(value: unknown, at: string): string | undefined {
  if (typeof value === "string") return value.includes("\0") ? at : undefined;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = findNul(v, `${at}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const key = at ? `${at}.${k}` : k;
      if (k.includes("\0")) return key;
      const found = findNul(v, key);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * A passphrase from a file (one trailing newline dropped) or else a value (environment); refused
 * when empty, and registered so no message ever prints it.
 */
export async function passphraseFrom(file: string | undefined, value: string | undefined, what = "passphrase"): Promise<string | undefined> {
  const text = file ? await readSecretFile(file, `${what} file`) : value;
  if (text === undefined) return undefined;
  const passphrase = text.replace(/\r?\n$/, "");
  if (passphrase.length === 0) throw new HoldfastError("USAGE", `the ${what} is empty${file ? ` (${file})` : ""}`);
  registerSecret(passphrase);
  return passphrase;
}

async function readSecretFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch {
    throw new HoldfastError("USAGE", `cannot read ${what} ${path}`);
  }
}

/** A file holding keys that open every backup: refused when its group or others may read it. */
async function readPrivateFile(path: string, what: string): Promise<string> {
  const mode = await stat(path).then((st) => st.mode & 0o777, () => undefined);
  if (mode !== undefined && (mode & 0o077) !== 0) {
    throw new HoldfastError("USAGE", `${what} ${path} is readable by its group or others (mode ${mode.toString(8).padStart(4, "0")}): it opens every backup`, { hint: `chmod 600 ${path}` });
  }
  return readSecretFile(path, what);
}

function parseIdentities(text: string, path: string): string[] {
  const ids = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.startsWith("AGE-SECRET-KEY-"));
  if (ids.length === 0) throw new HoldfastError("USAGE", `no AGE-SECRET-KEY-… line in identity file ${path}`);
  ids.forEach(registerSecret);
  return ids;
}
