import { pino } from "pino";
import type { Logger } from "../../services/common/logger.js";

/** One log line as pino wrote it. */
export type LogLine = Record<string, unknown> & { msg?: string; service?: string };

/**
 * Loggers that keep every line in memory, for tests that check what services log. pino writes
 * to the destination synchronously, so a line is there as soon as the call that logs it returns.
 */
export function captureLogs() {
  const lines: LogLine[] = [];
  const destination = { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) };
  return {
    lines,
    logger: (service: string): Logger => pino({ level: "debug", base: { service } }, destination),
    /** The lines with this message (and these fields, when given). */
    find(msg: string, fields: Record<string, unknown> = {}): LogLine[] {
      return lines.filter((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v));
    },
  };
}
