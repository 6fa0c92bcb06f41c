/** The library API: the same use cases the CLI and the daemon call. */
export { backup, type BackupRequest } from "./backup.js";
export { restore, type RestoreRequest, type RestoreResult } from "./restore.js";
export { verify, type VerifyRequest, type VerifyReport } from "./verify.js";
export { listBackups, showBackup } from "./catalog.js";
export { initRepository, type InitRequest } from "./init.js";
export { copyBackups, type CopyRequest, type CopyResult } from "./copy.js";
export { checkRepository, type CheckRequest, type CheckResult } from "./check.js";
export { prune, policyFromConfig, type PruneRequest, type PruneResult } from "./prune.js";
export { status, type StatusReport, type DatabaseStatus } from "./status.js";
export { planRetention, DEFAULT_POLICY, type RetentionPolicy, type RetentionPlan } from "../repository/retention.js";
export { runDemo } from "./demo.js";
export { quietContext, type CommandContext } from "./context.js";
export { loadSettings, type Settings } from "../config/load.js";
export { HoldfastError, EXIT_CODES } from "../errors.js";
export type { Manifest } from "../repository/manifest.js";
