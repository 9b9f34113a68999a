import type { ChildProcess } from "node:child_process";
import type { Server, Socket } from "node:net";
import timersPromises from "node:timers/promises";

/**
 * What keeps this process alive: its open servers, sockets and child processes, one line each,
 * and how many timers are still referenced. Node has no public API for the handles themselves;
 * `process._getActiveHandles()` is what Jest's --detectOpenHandles and why-is-node-running use.
 */
export function describeOpenHandles(): string[] {
  const handles = activeHandles();
  const lines = handles.map(describeHandle).filter((line): line is string => line !== undefined);
  const timers = process.getActiveResourcesInfo().filter((type) => type === "Timeout").length;
  if (timers > 0) lines.push(`${timers} timer(s)`, ...openTimerOrigins(), ...pendingSleepOrigins());
  return lines;
}

/** Where each traced timer was created, until it fires or is cleared. */
const tracedTimers = new Map<NodeJS.Timeout, Error>();
/** Where each pending `timers/promises` sleep was started, and how long it is. */
const pendingSleeps = new Set<{ origin: Error; ms: number; ref: boolean }>();

/**
 * Records where every timer is created, so that a timer still open at the end can be named.
 * Node lists timers only by count (`process.getActiveResourcesInfo()`). Jest copies the globals
 * into each test file's context when it loads the environment, after the global setup: wrapping
 * the globals there covers the tests, the services they start and the libraries those load.
 * (Timers Node creates inside its own modules are not covered; they are unreferenced anyway.)
 */
export function traceTimers(): void {
  const { setTimeout: once, setInterval: every, clearTimeout: clearOnce, clearInterval: clearEvery } = globalThis;
  const traced = <F extends typeof setTimeout | typeof setInterval>(create: F, repeats: boolean): F =>
    Object.assign(function (this: unknown, callback: (...args: unknown[]) => void, ...rest: unknown[]) {
      const origin = new Error("timer created");
      const timer: NodeJS.Timeout = (create as (...args: unknown[]) => NodeJS.Timeout)(
        repeats ? callback : (...args: unknown[]) => (tracedTimers.delete(timer), callback(...args)),
        ...rest,
      );
      tracedTimers.set(timer, origin);
      return timer;
    }, create);
  const untraced = <F extends typeof clearTimeout>(clear: F): F =>
    function (timer: Parameters<F>[0]) {
      if (typeof timer === "object" && timer !== null) tracedTimers.delete(timer as NodeJS.Timeout);
      clear(timer);
    } as F;
  globalThis.setTimeout = traced(once, false);
  globalThis.setInterval = traced(every, true);
  globalThis.clearTimeout = untraced(clearOnce);
  globalThis.clearInterval = untraced(clearEvery);
  // The promise form hides its timer: a sleep is traced from its start until it settles. The
  // module object is the one every test file gets (Jest hands out Node's own modules).
  const sleep = timersPromises.setTimeout;
  timersPromises.setTimeout = function (ms?: number, value?: unknown, options?: { ref?: boolean }) {
    const entry = { origin: new Error("sleep started"), ms: ms ?? 1, ref: options?.ref !== false };
    pendingSleeps.add(entry);
    return sleep(ms, value, options).finally(() => pendingSleeps.delete(entry));
  } as typeof sleep;
}

/** The first frames of a creation stack: the wrapper's and Jest's own frames say nothing about the cause. */
const originFrames = (origin: Error) =>
  (origin.stack ?? "")
    .split("\n")
    .slice(2)
    .filter((frame) => !/node_modules\/jest-|node:internal/.test(frame))
    .slice(0, 12)
    .map((frame) => `      ${frame.trim()}`);

/** The start stacks of the sleeps still pending that keep the process alive. */
function pendingSleepOrigins(): string[] {
  return [...pendingSleeps].filter((sleep) => sleep.ref).map(({ origin, ms }) => [`a sleep of ${ms} ms, started:`, ...originFrames(origin)].join("\n"));
}

/** The creation stacks of the traced timers that still keep the process alive. */
function openTimerOrigins(): string[] {
  const open = [...tracedTimers].filter(([timer]) => timer.hasRef() && !(timer as unknown as { _destroyed: boolean })._destroyed);
  return open.map(([timer, origin]) => {
    const every = (timer as unknown as { _repeat: number | null })._repeat;
    return [`a timer of ${every ?? (timer as unknown as { _idleTimeout: number })._idleTimeout} ms${every ? ", repeating" : ""}, created:`, ...originFrames(origin)].join("\n");
  });
}

const activeHandles = (): unknown[] => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();

/**
 * This process's sockets connected to `port` on this host. A socket leaves the list in the same
 * callback that emits its 'close' (and what listens for it has run by the next check).
 */
export const socketsTo = (port: number): Socket[] =>
  activeHandles().filter((h): h is Socket => (h as object).constructor?.name === "Socket" && (h as Socket).remotePort === port);

function describeHandle(handle: unknown): string | undefined {
  const name = (handle as object).constructor?.name ?? "handle";
  if (name === "ChildProcess") {
    const child = handle as ChildProcess;
    return `child process ${child.pid}: ${child.spawnargs.join(" ")}`;
  }
  if (name === "Server") {
    const address = (handle as Server).address();
    return `server listening on ${typeof address === "string" ? address : `${address?.address}:${address?.port}`}`;
  }
  if (name === "Socket") {
    const socket = handle as Socket;
    // The standard streams of the process are sockets or pipes too: they end with it.
    if ([process.stdin, process.stdout, process.stderr].includes(socket as never)) return undefined;
    if (socket.remotePort === undefined) return socket.localPort === undefined ? "socket (pipe)" : `socket ${socket.localAddress}:${socket.localPort}`;
    return `socket ${socket.localAddress}:${socket.localPort} -> ${socket.remoteAddress}:${socket.remotePort}`;
  }
  return name;
}

/**
 * Once the test run is over, the process should exit by itself. If it is still alive after
 * `graceMs`, something a test started was never stopped: print what is open and exit with a
 * failure, so a leak fails the run with its cause instead of hanging it (or passing, as
 * --forceExit would). Child processes still open (a redis-server) are killed first: they would
 * outlive the run. The timer is unreferenced: it never keeps the process alive itself.
 */
export function failIfStillRunning(graceMs: number): void {
  setTimeout(() => {
    const open = describeOpenHandles();
    process.stderr.write(
      `\nThe test run ended ${graceMs / 1000} s ago but the process did not exit. Open handles:\n` +
        `${open.map((line) => `  ${line}\n`).join("") || "  (none visible: a timer or an unsettled hook)\n"}` +
        "A test (or a service it stopped) leaves these behind: stop them in its afterAll.\n",
    );
    for (const handle of activeHandles()) if ((handle as object).constructor?.name === "ChildProcess") (handle as ChildProcess).kill("SIGKILL");
    process.exit(1);
  }, graceMs).unref();
}
