import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { freePort } from "../../scripts/local-redis.js";
import { exited, waitHealthy } from "../../scripts/processes.js";

export interface ServiceProcess {
  child: ChildProcess;
  /** Its operators' port: GET /healthz, /metrics. */
  operatorUrl: string;
  /** SIGTERM, and wait for the process to exit; resolves with its exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (no shutdown at all), and wait for the process to be gone. */
  kill(): Promise<void>;
}

/**
 * Runs a service's main.ts as a child process, from the TypeScript sources (see
 * register-ts.cjs), with `env` added to the test's environment; resolves once it is healthy.
 */
export async function startServiceProcess(
  name: string,
  ports: { portVar: string; operatorPortVar: string },
  env: Record<string, string>,
): Promise<ServiceProcess> {
  const [port, operatorPort] = [await freePort(), await freePort()];
  const main = resolve(__dirname, `../../services/${name}/main.ts`);
  const child = spawn(process.execPath, ["-r", resolve(__dirname, "register-ts.cjs"), "-e", `require(${JSON.stringify(main)})`], {
    env: {
      ...process.env,
      NODE_ENV: "test",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
      JWT_SECRET: randomBytes(32).toString("hex"),
      [ports.portVar]: String(port),
      [ports.operatorPortVar]: String(operatorPort),
      ...env,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (!(await waitHealthy(operatorPort, 30_000))) {
    child.kill("SIGKILL");
    throw new Error(`${name} did not become healthy`);
  }
  return {
    child,
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
  };
}
