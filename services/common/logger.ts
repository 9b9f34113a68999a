import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

/**
 * The root logger of a process: structured JSON on stdout, one line per event, with the
 * service name on every line. Children add request and room ids (`log.child({ roomId })`).
 */
export function createLogger(service: string, level: LevelWithSilent | string = "info"): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
