/**
 * The one error family. Every failure a user can cause or meet carries a stable code; only cli/
 * maps codes to exit statuses (see EXIT_CODES) and prints them. Messages say what failed and where;
 * the hint says what to do. Secrets are redacted where errors are formatted (redact()).
 */
export const EXIT_CODES = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  CONFIG_INVALID: 3,
  SOURCE_MISSING: 4,
  SOURCE_INVALID: 5,
  REPO_NOT_INITIALISED: 6,
  REPO_NOT_EMPTY: 7,
  WRONG_KEY: 8,
  CORRUPTED: 9,
  TRUNCATED: 10,
  MANIFEST_MISSING: 11,
  BACKUP_NOT_FOUND: 12,
  LOCKED: 13,
  TOOL_MISSING: 14,
  NO_SPACE: 15,
  VERIFY_FAILED: 16,
  RESTORE_FAILED: 17,
  TARGET_EXISTS: 18,
  CONNECTION_FAILED: 19,
  AUTH_FAILED: 20,
  DATABASE_MISSING: 21,
  ENGINE_MISMATCH: 22,
  TOOL_VERSION: 23,
  STORAGE_FAILED: 24,
  NOT_FOUND: 25,
  ARCHIVING_NOT_SET_UP: 26,
  BACKUP_FAILED: 27,
  DRILL_FAILED: 28,
  DRILL_INCONCLUSIVE: 29,
  MIGRATION_FAILED: 30,
  UPGRADE_ROLLED_BACK: 31,
  UPGRADE_FAILED: 32,
  UPGRADE_REFUSED: 33,
  IMPORT_CONFLICT: 34,
  IMPORT_PLAN_STALE: 35,
  IMPORT_SCHEMA_MISMATCH: 36,
  IMPORT_REJECTED: 37,
  INTERRUPTED: 130,
} as const;

export type ErrorCode = keyof typeof EXIT_CODES;

export class HoldfastError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HoldfastError";
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return EXIT_CODES[this.code] ?? EXIT_CODES.INTERNAL;
  }
}

export function isHoldfastError(err: unknown, code?: ErrorCode): err is HoldfastError {
  return err instanceof HoldfastError && (code === undefined || err.code === code);
}

/** Map operating-system errors we understand onto our codes; anything else stays INTERNAL. */
export function fromSystemError(err: unknown, where: string): HoldfastError {
  if (err instanceof HoldfastError) return err;
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case "ENOSPC":
    case "EDQUOT":
      return new HoldfastError("NO_SPACE", `no space left on device while writing ${where}`, {
        hint: "free space or point the repository at a larger volume; nothing was committed",
        cause: err,
      });
    case "EACCES":
    case "EPERM":
      return new HoldfastError("STORAGE_FAILED", `permission denied: ${where}`, { cause: err });
    case "EROFS":
      return new HoldfastError("STORAGE_FAILED", `read-only file system: ${where}`, { cause: err });
    case "ENOENT":
      return new HoldfastError("NOT_FOUND", `not found: ${where}`, { cause: err });
    case "ABORT_ERR":
      return new HoldfastError("INTERRUPTED", `interrupted: ${where}`, { cause: err });
    default:
      return new HoldfastError("INTERNAL", `${where}: ${e?.message ?? String(err)}`, { cause: err });
  }
}

const SECRET_PATTERNS: RegExp[] = [
  /(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+(@)/gi, // password inside a connection URL
  /((?:password|passphrase|secret|token|access_?key|secret_?key)\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)/gi,
  /AGE-SECRET-KEY-[0-9A-Z]+/g,
];

/** Remove anything that looks like a secret, plus the exact values registered at start-up. */
export function redact(text: string, knownSecrets: readonly string[] = registeredSecrets): string {
  let out = text;
  for (const secret of knownSecrets) {
    // The whole value only: a passphrase that is a common word must not garble other words
    // ("wrong passphrase" stays readable when the passphrase is "pass").
    if (secret.length >= 4) out = out.replace(new RegExp(`(?<![\\p{L}\\p{N}_])${escapeRegExp(secret)}(?![\\p{L}\\p{N}_])`, "gu"), "***");
  }
  out = out.replace(SECRET_PATTERNS[0]!, "$1***$2");
  out = out.replace(SECRET_PATTERNS[1]!, "$1***");
  out = out.replace(SECRET_PATTERNS[2]!, "AGE-SECRET-KEY-***");
  return out;
}

const registeredSecrets: string[] = [];

/** Called wherever a secret is read (passphrase files, URLs) so every later message can hide it. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4 && !registeredSecrets.includes(value)) registeredSecrets.push(value);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
