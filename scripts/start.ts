/**
 * `npm start`: runs every groovebox service on this machine, each as its own process, with
 * defaults that work together. Uses the Redis at REDIS_URL; when none answers there and
 * redis-server is installed, starts a private one (data in .data/redis, AOF on). Ctrl-C
 * stops everything cleanly.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { redisAnswers, redisServerInstalled, startLocalRedis, type LocalRedis } from "./local-redis.js";
import { spawnService, stopProcesses, waitHealthy } from "./processes.js";

/** Each service with its operators' port (health, metrics), whose default is its port + 1000. */
const SERVICES = [
  { name: "clock", operatorPortVar: "CLOCK_OPERATOR_PORT", operatorPort: 9081 },
  { name: "rooms", operatorPortVar: "ROOMS_OPERATOR_PORT", operatorPort: 9083 },
  { name: "playback", operatorPortVar: "PLAYBACK_OPERATOR_PORT", operatorPort: 9082 },
  { name: "scheduler", operatorPortVar: "SCHEDULER_OPERATOR_PORT", operatorPort: 9084 },
  { name: "gateway", operatorPortVar: "GATEWAY_OPERATOR_PORT", operatorPort: 9080 },
] as const;

const say = (line: string) => process.stderr.write(`[groovebox] ${line}\n`);

/** Makes sure a Redis answers at REDIS_URL; returns the private one it started, if any. */
async function ensureRedis(): Promise<LocalRedis | undefined> {
  const url = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 6379);
  if (process.env.REDIS_CLUSTER_NODES || (await redisAnswers(host, port))) return undefined;
  const isLocal = ["127.0.0.1", "localhost", "::1"].includes(host);
  if (!isLocal || !redisServerInstalled()) {
    say(`no Redis answers at ${url.href}.`);
    say("Start one (e.g. `sudo apt-get install redis-server`, or `docker run -p 6379:6379 redis:7`),");
    say("or point REDIS_URL at yours, then run `npm start` again.");
    process.exit(1);
  }
  const dir = resolve(".data/redis");
  mkdirSync(dir, { recursive: true });
  say(`no Redis at ${url.href}: starting a private redis-server on port ${port} (data in ${dir}, AOF on)`);
  try {
    return await startLocalRedis({ port, dir, showLogs: true });
  } catch (err) {
    say(String(err));
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const redis = await ensureRedis();
  const children: Array<{ name: string; child: ChildProcess }> = [];
  let stopping = false;

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say("stopping...");
    await stopProcesses(children.map(({ child }) => child).reverse());
    await redis?.stop();
    say("stopped");
    process.exit(code);
  };
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));

  for (const svc of SERVICES) {
    const operatorPort = Number(process.env[svc.operatorPortVar] ?? svc.operatorPort);
    const child = spawnService(svc.name, process.env);
    children.push({ name: svc.name, child });
    child.once("exit", (code, signal) => {
      if (stopping) return;
      say(`${svc.name} exited (${signal ?? code}); stopping the others`);
      void stopAll(1);
    });
    if (!(await waitHealthy(operatorPort))) {
      say(`${svc.name} did not become healthy (GET /healthz on port ${operatorPort})`);
      await stopAll(1);
      return;
    }
  }
  const gatewayPort = process.env.GATEWAY_PORT ?? "8080";
  const gatewayOperatorPort = process.env.GATEWAY_OPERATOR_PORT ?? "9080";
  say(`all services up; the public port is http://127.0.0.1:${gatewayPort} (Ctrl-C stops everything)`);
  say(`health and metrics: http://127.0.0.1:${gatewayOperatorPort}/healthz and /metrics (each service: its port + 1000)`);
}

void main();
