#!/usr/bin/env node
/** The `groovebox` command (package.json "bin"): see program.ts, or `groovebox --help`. */
import { runCli } from "./program.js";

runCli(process.argv.slice(2), {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
}).then((code) => {
  process.exitCode = code;
});
