/**
 * A local redis-server for development, tests and benchmarks: detect one, or start a private
 * one on a given port. No Redis client library: a PING over a plain socket is enough.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, createServer } from "node:net";

/** True when a redis-server binary is on the PATH. */
export function redisServerInstalled(): boolean {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

/** True when something at host:port answers PING like a Redis (or asks for a password). */
export function redisAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(1000, () => socket.destroy());
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => {
      socket.destroy();
      resolve(/^(\+PONG|-NOAUTH)/.test(data.toString()));
    });
    socket.once("error", () => resolve(false));
    socket.once("close", () => resolve(false));
  });
}

/** The lowest port freePort picks (below it lie the well-known and registered services' ports). */
const LOWEST_PICKED_PORT = 10_000;

/**
 * The lowest port of the system's ephemeral range: the ports outgoing connections (and
 * listen(0)) get. Linux's default when it cannot be read.
 */
function lowestEphemeralPort(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 0) return low;
  } catch {
    // not Linux: assume its default
  }
  return 32_768;
}

/** Resolves with `port` when it can be listened on at 127.0.0.1 now (0: any), else undefined. */
function listenable(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A free TCP port on 127.0.0.1, for a process that listens on it later (a service or a
 * redis-server started by a test). Picked at random below the system's ephemeral range, not
 * by the system (port 0): ports in that range are what every outgoing connection gets, and on
 * a busy machine one took such a port in the seconds before a child process listened on it
 * (EADDRINUSE). At random, so concurrent test processes seldom pick the same one. The system's
 * choice is the fallback when there is no room below the range.
 */
export async function freePort(): Promise<number> {
  const below = lowestEphemeralPort();
  for (let attempt = 0; below > LOWEST_PICKED_PORT && attempt < 100; attempt++) {
    const port = await listenable(LOWEST_PICKED_PORT + Math.floor(Math.random() * (below - LOWEST_PICKED_PORT)));
    if (port !== undefined) return port;
  }
  const port = await listenable(0);
  if (port === undefined) throw new Error("no free TCP port on 127.0.0.1");
  return port;
}

export interface LocalRedis {
  port: number;
  url: string;
  process: ChildProcess;
  /** SIGTERM, and wait for it to exit (with AOF on, it writes its data first). */
  stop(): Promise<void>;
  /** SIGKILL, and wait for it to exit: a crash, nothing more is written. */
  kill(): Promise<void>;
}

/**
 * Starts redis-server on 127.0.0.1:port and waits until it answers. With `dir`, data lives
 * there in an append-only file (fsync every second); without, nothing is kept.
 */
export async function startLocalRedis(opts: {
  port: number;
  dir?: string;
  fsyncAlways?: boolean;
  /** Show redis-server's warnings on our stderr (npm start); tests and benchmarks keep it quiet. */
  showLogs?: boolean;
  /** More redis-server options (they override the ones above). */
  args?: string[];
  /**
   * Runs it in its own process group, so a Ctrl-C in the terminal does not reach it: whoever
   * started it stops it after the services that use it (npm start).
   */
  ownProcessGroup?: boolean;
}): Promise<LocalRedis> {
  const persistence = opts.dir
    ? ["--dir", opts.dir, "--appendonly", "yes", "--appendfsync", opts.fsyncAlways ? "always" : "everysec"]
    : ["--appendonly", "no"];
  const child = spawn(
    "redis-server",
    ["--port", String(opts.port), "--bind", "127.0.0.1", "--save", "", ...persistence, "--maxmemory-policy", "noeviction", "--loglevel", "warning", ...(opts.args ?? [])],
    { stdio: ["ignore", "ignore", opts.showLogs ? "inherit" : "ignore"], detached: opts.ownProcessGroup ?? false },
  );
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers("127.0.0.1", opts.port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`redis-server did not start on port ${opts.port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(name);
    await exited;
  };
  return {
    port: opts.port,
    url: `redis://127.0.0.1:${opts.port}`,
    process: child,
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
  };
}
