#!/usr/bin/env node
// Runs the TypeScript sources through tsx, as the rest of the workspace does.
import { register } from "tsx/esm/api"

// Node 22 warns that node:sqlite is experimental on every run; the warning is noise for a command's user.
const emitWarning = process.emitWarning
process.emitWarning = (warning, ...rest) =>
  String(warning).includes("SQLite is an experimental feature")
    ? undefined
    : emitWarning.call(process, warning, ...rest)

register()
await import("../src/main.ts")
