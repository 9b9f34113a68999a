import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { freePort } from "../../scripts/local-redis.js";
import { exited, waitHealthy } from "../../scripts/processes.js";

export interface ServiceProcess {
  /** The running process (a new one after restart()). */
  readonly child: ChildProcess;
  /** Its service port. */
  url: string;
  /** Its operators' port: GET /healthz, /metrics. */
  operatorUrl: string;
  /** SIGTERM, and wait for the process to exit; resolves with its exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (no shutdown at all), and wait for the process to be gone. */
  kill(): Promise<void>;
  /** Starts it again, on the same ports with the same environment, after stop() or kill(). */
  restart(): Promise<void>;
}

/**
 * Runs a service's main.ts as a child process, from the TypeScript sources (see
 * register-ts.cjs), with `env` added to the test's environment; resolves once it is healthy.
 * Its ports are free ones unless `ports` names them.
 */
export async function startServiceProcess(
  name: string,
  ports: { portVar: string; operatorPortVar: string; port?: number; operatorPort?: number },
  env: Record<string, string>,
): Promise<ServiceProcess> {
  const port = ports.port ?? (await freePort());
  const operatorPort = ports.operatorPort ?? (await freePort());
  const main = resolve(__dirname, `../../services/${name}/main.ts`);
  const childEnv = {
    ...process.env,
    NODE_ENV: "test",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    JWT_SECRET: randomBytes(32).toString("hex"),
    [ports.portVar]: String(port),
    [ports.operatorPortVar]: String(operatorPort),
    ...env,
  };
  const launch = async () => {
    const started = spawn(process.execPath, ["-r", resolve(__dirname, "register-ts.cjs"), "-e", `require(${JSON.stringify(main)})`], {
      env: childEnv,
      stdio: ["ignore", "inherit", "inherit"],
    });
    if (!(await waitHealthy(operatorPort, 30_000))) {
      started.kill("SIGKILL");
      throw new Error(`${name} did not become healthy`);
    }
    return started;
  };
  let child = await launch();
  return {
    get child() {
      return child;
    },
    url: `http://127.0.0.1:${port}`,
    operatorUrl: `http://127.0.0.1:${operatorPort}`,
    async stop() {
      child.kill("SIGTERM");
      await exited(child);
      return child.exitCode;
    },
    async kill() {
      child.kill("SIGKILL");
      await exited(child);
    },
    async restart() {
      child = await launch();
    },
  };
}
