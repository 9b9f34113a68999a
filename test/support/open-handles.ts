import type { ChildProcess } from "node:child_process";
import type { Server, Socket } from "node:net";
import { tracedTimerOrigins } from "./timer-trace.ts";

/**
 * What keeps this process alive: its open servers, sockets and child processes, one line each,
 * and how many timers are still referenced. Node has no public API for the handles themselves;
 * `process._getActiveHandles()` is what Jest's --detectOpenHandles and why-is-node-running use.
 */
export function describeOpenHandles(): string[] {
  const handles = activeHandles();
  const lines = handles.map(describeHandle).filter((line): line is string => line !== undefined);
  const timers = process.getActiveResourcesInfo().filter((type) => type === "Timeout").length;
  if (timers > 0) lines.push(`${timers} timer(s)`, ...tracedTimerOrigins());
  return lines;
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
