/** The migrations library: load a folder, open a target, then status / plan / up / down / repair. */
export { loadMigrations, type Migration, type LoadOptions } from "./files.js";
export { openMigrationTarget, type OpenTargetOptions } from "./open.js";
export type { MigrationTarget, TimeoutOptions } from "./target.js";
export { migrateStatus, type StatusReport, type MigrationStatus } from "./status.js";
export { migratePlan, migrateUp, migrateDown, migrateRepair, DEFAULT_TIMEOUTS, type MigrateOptions, type Plan, type UpResult, type DownResult, type RepairResult } from "./migrator.js";
export { CHECKSUM_ALGORITHM, checksumOf } from "./checksum.js";
export { splitStatements } from "./split.js";
export type { HistoryRow } from "./history.js";
export type { DestructiveChange } from "./destructive.js";
export { withBackupExclusion } from "./backup-exclusion.js";
