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

// A reader that goes away (`groovebox watch --json | head -1`) ends the command quietly, as
// Ctrl-C would: nothing more is written, a watch closes its stream, and nothing is reported
// (Node ignores SIGPIPE, so the broken pipe arrives as an EPIPE 'error' on the stream).
let readerGone = false;
const onOutputError = (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
  readerGone = true;
  interrupt.abort();
};
process.stdout.on("error", onOutputError);
process.stderr.on("error", onOutputError);

const out = process.stdout;
const write = (stream: NodeJS.WriteStream, text: string) => {
  if (!readerGone) stream.write(text);
};
runCli(process.argv.slice(2), {
  stdout: (line) => write(out, `${line}\n`),
  stderr: (line) => write(process.stderr, `${line}\n`),
  env: process.env,
  terminal: out.isTTY ? { write: (text) => write(out, text), columns: () => out.columns, rows: () => out.rows } : undefined,
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
