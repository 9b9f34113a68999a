/**
 * `npm start`: runs every groovebox service on this machine, each as its own process, with
 * defaults that work together. Uses the Redis at REDIS_URL; when none answers there and
 * redis-server is installed, starts a private one (data in .data/redis, AOF on). Ctrl-C
 * stops everything cleanly: the services run in their own process groups, so the terminal's
 * SIGINT reaches only this runner, which stops each service once (SIGTERM), dependents first,
 * and waits for each to drain.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { resolveJwtSecret } from "../services/common/auth/tokens.js";
import { createLogger } from "../services/common/logger.js";
import { redisAnswers, redisServerInstalled, startLocalRedis, type LocalRedis } from "./local-redis.js";
import { readableLogs, showReadable } from "./log-view.js";
import { exited, spawnService, waitHealthy, type ServiceName } from "./processes.js";

interface ServiceSpec {
  name: ServiceName;
  portVar: string;
  port: number;
  /** Where the others find it (gateway, playback), for the services they call. */
  urlVar?: string;
  operatorPortVar: string;
}

/** Each service with its port and operators' port (health, metrics), whose default is its port + 1000. */
const SERVICES: ServiceSpec[] = [
  { name: "clock", portVar: "CLOCK_PORT", port: 8081, urlVar: "CLOCK_URL", operatorPortVar: "CLOCK_OPERATOR_PORT" },
  { name: "rooms", portVar: "ROOMS_PORT", port: 8083, urlVar: "ROOMS_URL", operatorPortVar: "ROOMS_OPERATOR_PORT" },
  { name: "playback", portVar: "PLAYBACK_PORT", port: 8082, urlVar: "PLAYBACK_URL", operatorPortVar: "PLAYBACK_OPERATOR_PORT" },
  { name: "scheduler", portVar: "SCHEDULER_PORT", port: 8084, operatorPortVar: "SCHEDULER_OPERATOR_PORT" },
  { name: "gateway", portVar: "GATEWAY_PORT", port: 8080, operatorPortVar: "GATEWAY_OPERATOR_PORT" },
];

/** Stop order: callers before the services they call, so nothing calls a service that is gone. */
const STOP_TIERS: ServiceName[][] = [["gateway"], ["playback", "scheduler"], ["rooms", "clock"]];

const say = (line: string) => process.stderr.write(`[groovebox] ${line}\n`);

const portOf = (svc: ServiceSpec, env: NodeJS.ProcessEnv) => Number(env[svc.portVar] ?? svc.port);
const operatorPortOf = (svc: ServiceSpec, env: NodeJS.ProcessEnv) => Number(env[svc.operatorPortVar] ?? portOf(svc, env) + 1000);

/** A Redis URL fit to print: without its password. */
function displayUrl(url: URL): string {
  const shown = new URL(url.href);
  if (shown.password) shown.password = "***";
  return shown.href;
}

/** Makes sure a Redis answers at REDIS_URL and says which one is used; returns the private one it started, if any. */
async function ensureRedis(env: NodeJS.ProcessEnv): Promise<LocalRedis | undefined> {
  if (env.REDIS_CLUSTER_NODES) {
    say(`Redis: the cluster at ${env.REDIS_CLUSTER_NODES} (REDIS_CLUSTER_NODES)`);
    return undefined;
  }
  const url = new URL(env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 6379);
  if (await redisAnswers(host, port)) {
    say(`Redis: ${displayUrl(url)} (already running${env.REDIS_URL ? ", from REDIS_URL" : ""})`);
    return undefined;
  }
  const isLocal = ["127.0.0.1", "localhost", "::1"].includes(host);
  if (!isLocal || !redisServerInstalled()) {
    say(`no Redis answers at ${displayUrl(url)}.`);
    say("Start one (e.g. `sudo apt-get install redis-server`, or `docker run -p 6379:6379 redis:7`),");
    say("or point REDIS_URL at yours, then run `npm start` again.");
    process.exit(1);
  }
  const dir = resolve(".data/redis");
  mkdirSync(dir, { recursive: true });
  try {
    const redis = await startLocalRedis({ port, dir, showLogs: true, ownProcessGroup: true });
    say(`Redis: none answered at ${displayUrl(url)}, so a private redis-server runs there (data in ${dir}, AOF on)`);
    return redis;
  } catch (err) {
    say(String(err));
    process.exit(1);
  }
}

/**
 * The services' environment: where they find each other (from their ports unless the *_URL
 * variables say otherwise), their operators' ports, and one JWT secret for all. Without JWT_SECRET, development runs
 * share the one kept in .data/dev-jwt-secret; saying so once here beats four warnings.
 */
function servicesEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const svc of SERVICES) {
    if (svc.urlVar) out[svc.urlVar] ??= `http://127.0.0.1:${portOf(svc, env)}`;
    out[svc.operatorPortVar] = String(operatorPortOf(svc, env));
  }
  if (!env.JWT_SECRET && env.NODE_ENV !== "production") {
    const devSecretFile = resolve(env.GROOVEBOX_DATA_DIR ?? ".data", "dev-jwt-secret");
    out.JWT_SECRET = resolveJwtSecret({ configured: undefined, nodeEnv: "development", devSecretFile, logger: createLogger("start", "silent") });
    say(`JWT_SECRET is not set: the services share a development secret kept in ${devSecretFile} (set JWT_SECRET in production)`);
  }
  return out;
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const env = servicesEnv(process.env);
  const redis = await ensureRedis(env);
  const children = new Map<ServiceName, ChildProcess>();
  let stopping = false;

  /** Stops the services tier by tier (each drains: streams end, calls finish), then Redis. */
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say("stopping (each service drains; Ctrl-C again to stop at once)...");
    for (const tier of STOP_TIERS) {
      const running = tier.map((name) => children.get(name)).filter((c): c is ChildProcess => c !== undefined);
      for (const child of running) child.kill("SIGTERM");
      await Promise.all(running.map(exited));
    }
    await redis?.stop();
    say("stopped");
    process.exit(code);
  };
  const onSignal = () => {
    if (!stopping) return void stopAll(0);
    say("stopping at once");
    // A second SIGTERM makes a service exit without draining (runMain).
    for (const child of children.values()) child.kill("SIGTERM");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const pretty = readableLogs();
  for (const svc of SERVICES) {
    const child = spawnService(svc.name, env, ["ignore", pretty ? "pipe" : "inherit", "inherit"], [], { supervised: true });
    if (pretty) showReadable(child.stdout!);
    children.set(svc.name, child);
    child.once("exit", (code, signal) => {
      if (stopping) return;
      say(`${svc.name} exited (${signal ?? code}); stopping the others`);
      void stopAll(1);
    });
  }
  const health = await Promise.all(SERVICES.map(async (svc) => ({ svc, ok: await waitHealthy(operatorPortOf(svc, env)) })));
  for (const { svc } of health.filter((h) => !h.ok)) {
    say(`${svc.name} did not become healthy (GET /healthz on port ${operatorPortOf(svc, env)})`);
  }
  if (health.some((h) => !h.ok)) return stopAll(1);

  const gateway = SERVICES.find((s) => s.name === "gateway")!;
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  say(`ready in ${seconds} s: the public port is http://127.0.0.1:${portOf(gateway, env)} (gRPC, Connect, gRPC-Web; the browser page at /)`);
  say(`health and metrics: GET /healthz and /metrics on ${SERVICES.map((s) => `${s.name} :${operatorPortOf(s, env)}`).join(", ")}`);
  say("Ctrl-C stops everything");
}

void main();
