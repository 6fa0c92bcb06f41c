#!/usr/bin/env node
import { createProgram, installSignalHandlers, runProgram } from "./program.js";
import { registerCoreCommands } from "./core-commands.js";
import { registerOpsCommands } from "./ops-commands.js";
import { registerWalCommands } from "./wal-commands.js";
import { registerStorageCommands } from "./storage-commands.js";
import { registerDrillCommands } from "./drill-commands.js";
import { registerUpgradeCommands } from "./upgrade-commands.js";
import { registerMigrateCommands } from "./migrate-commands.js";
import { registerRunbookCommands } from "./runbook-commands.js";
import { registerTransferCommands } from "./transfer-commands.js";

const program = createProgram();
registerCoreCommands(program);
registerOpsCommands(program);
registerWalCommands(program);
registerStorageCommands(program);
registerDrillCommands(program);
registerUpgradeCommands(program);
registerMigrateCommands(program);
registerRunbookCommands(program);
registerTransferCommands(program);
installSignalHandlers();
runProgram(program);
