/**
 * Runs groovebox services as separate processes (npm start, benchmarks): start one from the
 * built output, wait until it reports healthy, stop it with SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

export type ServiceName = "clock" | "rooms" | "playback" | "gateway" | "scheduler";

/** Node flags per service: the gateway holds many streams, and young-generation GC dominates there. */
const NODE_FLAGS: Record<ServiceName, string[]> = {
  clock: [],
  rooms: [],
  playback: [],
  scheduler: [],
  gateway: ["--max-semi-space-size=32"],
};

/**
 * Starts `dist/services/<name>/main.js` with the given environment (and extra node flags).
 * A `supervised` service runs in its own process group, so a Ctrl-C in the terminal reaches
 * only the supervisor, which stops each service once, in order; an IPC channel tells the
 * service when its supervisor is gone (it then stops by itself, see runMain). `root` runs the
 * build of another checkout instead (benchmarks compare a change with the code before it).
 */
export function spawnService(
  name: ServiceName,
  env: NodeJS.ProcessEnv,
  stdio: Array<"ignore" | "inherit" | "pipe"> = ["ignore", "inherit", "inherit"],
  extraFlags: string[] = [],
  opts: { supervised?: boolean; root?: string } = {},
): ChildProcess {
  const args = [...NODE_FLAGS[name], ...extraFlags, resolve(opts.root ?? ".", `dist/services/${name}/main.js`)];
  if (!opts.supervised) return spawn(process.execPath, args, { stdio, env });
  return spawn(process.execPath, args, { stdio: [...stdio, "ipc"], env, detached: true });
}

/** Resolves true once GET /healthz on the operators' port answers 200, false after `timeoutMs`. */
export async function waitHealthy(operatorPort: number, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`http://127.0.0.1:${operatorPort}/healthz`)).ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** Resolves when the process has exited. */
export function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once("exit", () => r()));
}

/** SIGTERM to each, then wait for all (they shut down gracefully). */
export async function stopProcesses(children: ChildProcess[]): Promise<void> {
  for (const child of children) child.kill("SIGTERM");
  await Promise.all(children.map(exited));
}
