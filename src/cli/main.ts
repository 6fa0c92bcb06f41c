#!/usr/bin/env node
import { createProgram, installSignalHandlers, runProgram } from "./program.js";
import { registerCoreCommands } from "./core-commands.js";

const program = createProgram();
registerCoreCommands(program);
installSignalHandlers();
runProgram(program);
