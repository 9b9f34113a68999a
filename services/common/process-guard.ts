import type { Logger } from "./logger.js";

/**
 * Keeps a service process from dying silently in the middle of its calls.
 * - An unhandled promise rejection is logged (the error with its stack; the logger adds the
 *   service and pid) and the process goes on serving: Node's default would exit at once and
 *   cut every call in progress, for a promise nobody was waiting for.
 * - An uncaught exception is logged as fatal and the service is stopped gracefully
 *   (`shutdown`): the code that threw may have left its state half-changed, so the process does
 *   not go on, but the calls in progress are drained before it exits for its supervisor to
 *   restart it.
 * Returns a function that removes the guard.
 */
export function installProcessGuard(logger: Logger, shutdown: (reason: string) => void): () => void {
  const onRejection = (reason: unknown) => {
    logger.error({ err: reason, event: "unhandledRejection" }, "unhandled promise rejection (the process goes on)");
  };
  const onException = (err: Error, origin: NodeJS.UncaughtExceptionOrigin) => {
    logger.fatal({ err, event: origin }, "uncaught exception: draining the calls in progress, then exiting");
    shutdown(origin);
  };
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  return () => {
    process.off("unhandledRejection", onRejection);
    process.off("uncaughtException", onException);
  };
}
