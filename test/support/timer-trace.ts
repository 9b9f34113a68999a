import timers from "node:timers";
import timersPromises from "node:timers/promises";
import { promisify } from "node:util";

/**
 * Where the timers of a test run were created, so that one still open when the run is over can
 * be named: Node counts open timers (`process.getActiveResourcesInfo()`) but does not show them.
 *
 * The global setup wraps the timer functions before any test file runs: Jest copies the
 * globals into each file's context when it first loads the test environment, which is after
 * the global setup, and it hands test files Node's own `timers` and `timers/promises` modules.
 * That covers the tests, the services they start and the libraries those load, when the files
 * run in this process (`--runInBand`, which Jest picks on two cores); test files in worker
 * processes get the plain functions. Timers Node makes inside its own modules are not seen.
 */

/** Each traced timer and where it was made; destroyed ones are swept out now and then. */
const tracedTimers = new Map<NodeJS.Timeout, Error>();
/** Each pending `timers/promises` sleep, where it started and how long it is. */
const pendingSleeps = new Set<{ origin: Error; ms: number; ref: boolean }>();
/** Timers traced between two sweeps of the destroyed ones. */
const SWEEP_EVERY = 10_000;
/** Frames kept per creation stack: enough for the caller's own, less than Jest's 100. */
const STACK_FRAMES = 25;

let traced = false;
let sinceSweep = 0;

interface TimerInternals {
  _destroyed: boolean;
  _repeat: number | null;
  _idleTimeout: number;
}
const internals = (timer: NodeJS.Timeout) => timer as unknown as TimerInternals;

/** The caller's stack, short. */
function originHere(what: string): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = STACK_FRAMES;
  const origin = new Error(what);
  Error.stackTraceLimit = limit;
  return origin;
}

/** Forgets the timers that fired (and do not repeat) or were cleared, however that happened. */
function sweepDestroyed(): void {
  for (const timer of tracedTimers.keys()) if (internals(timer)._destroyed) tracedTimers.delete(timer);
  sinceSweep = 0;
}

/** `create` (setTimeout or setInterval), recording where each timer is made. */
function tracing<F extends typeof setTimeout | typeof setInterval>(create: F): F {
  return Object.assign(function (this: unknown, ...args: unknown[]) {
    const timer = (create as (...a: unknown[]) => NodeJS.Timeout).apply(this, args);
    tracedTimers.set(timer, originHere("timer created"));
    if (++sinceSweep >= SWEEP_EVERY) sweepDestroyed();
    return timer;
  }, create);
}

/** Wraps the timer functions, once. */
export function traceTimers(): void {
  if (traced) return;
  traced = true;
  // The promise form hides its timer: a sleep is traced from its start until it settles.
  const sleep = timersPromises.setTimeout;
  const tracedSleep = function (ms?: number, value?: unknown, options?: { ref?: boolean }) {
    const entry = { origin: originHere("sleep started"), ms: ms ?? 1, ref: options?.ref !== false };
    pendingSleeps.add(entry);
    return sleep(ms, value, options).finally(() => pendingSleeps.delete(entry));
  } as typeof sleep;
  timersPromises.setTimeout = tracedSleep;
  const tracedTimeout = tracing(globalThis.setTimeout);
  // util.promisify(setTimeout) is the promise form too.
  Object.defineProperty(tracedTimeout, promisify.custom, { value: tracedSleep });
  const tracedInterval = tracing(globalThis.setInterval);
  globalThis.setTimeout = timers.setTimeout = tracedTimeout;
  globalThis.setInterval = timers.setInterval = tracedInterval;
}

/** The first frames of a creation stack: the wrappers' and Jest's own say nothing about the cause. */
const originFrames = (origin: Error) =>
  (origin.stack ?? "")
    .split("\n")
    .slice(1)
    .filter((frame) => !/test\/support\/timer-trace\.ts|node_modules\/jest-|node:internal/.test(frame))
    .slice(0, 12)
    .map((frame) => `      ${frame.trim()}`);

/** Where each traced timer and sleep that still keeps the process alive was made, a few lines each. */
export function tracedTimerOrigins(): string[] {
  sweepDestroyed();
  const timerLines = [...tracedTimers]
    .filter(([timer]) => timer.hasRef())
    .map(([timer, origin]) => {
      const { _repeat: every, _idleTimeout: ms } = internals(timer);
      return [`a timer of ${every ?? ms} ms${every ? ", repeating" : ""}, created:`, ...originFrames(origin)].join("\n");
    });
  const sleepLines = [...pendingSleeps]
    .filter((sleep) => sleep.ref)
    .map(({ origin, ms }) => [`a sleep of ${ms} ms, started:`, ...originFrames(origin)].join("\n"));
  return [...timerLines, ...sleepLines];
}
