/**
 * How npm start shows the services' logs: as they are (JSON lines, for log collectors) when its
 * output is not a terminal, and as readable, coloured lines through pino-pretty when it is.
 */
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { prettyFactory } from "pino-pretty";

/** True when the services' logs should be made readable (a person is watching). */
export const readableLogs = (): boolean => process.stdout.isTTY === true;

const SERVICE_WIDTH = 9;

const prettify = prettyFactory({
  colorize: true,
  translateTime: "SYS:HH:MM:ss.l",
  ignore: "pid,hostname,service",
  singleLine: true,
  messageFormat: (log, messageKey) => `${String(log.service ?? "").padEnd(SERVICE_WIDTH)} ${String(log[messageKey] ?? "")}`,
});

/** Writes a service's JSON log lines to stdout as readable lines; other lines pass as they are. */
export function showReadable(output: Readable): void {
  createInterface({ input: output, crlfDelay: Infinity }).on("line", (line) => process.stdout.write(prettify(line)));
}
