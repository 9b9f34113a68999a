#!/usr/bin/env node
/** The `groovebox` command (package.json "bin"): see program.ts, or `groovebox --help`. */
import { runCli } from "./program.js";

// Once a long-running command (watch) asks, the first Ctrl-C ends it cleanly and a second one
// exits at once; until then Ctrl-C ends the process as usual.
const interrupt = new AbortController();
const onSignal = () => {
  if (interrupt.signal.aborted) process.exit(130);
  interrupt.abort();
};

const out = process.stdout;
runCli(process.argv.slice(2), {
  stdout: (line) => out.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  terminal: out.isTTY ? { write: (text) => out.write(text), columns: () => out.columns, rows: () => out.rows } : undefined,
  interrupts: () => {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    return interrupt.signal;
  },
}).then((code) => {
  process.exitCode = code;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
});
