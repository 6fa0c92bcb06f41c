import { KILL_FAMILIES, reducedRun } from "./reduced-run.js";

// kill -9 at random points of backups, restores, wal-push and repository operations.
reducedRun("kills", KILL_FAMILIES);
