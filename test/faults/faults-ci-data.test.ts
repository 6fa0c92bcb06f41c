import { DATA_FAMILIES, reducedRun } from "./reduced-run.js";

// Corruption, storage faults, concurrent pairs, config fuzzing and secrets.
reducedRun("data", DATA_FAMILIES);
