/**
 * `npm start`: runs every groovebox service on this machine, each as its own process, with
 * defaults that work together. Uses the Redis at REDIS_URL; when none answers there and
 * redis-server is installed, starts a private one (data in .data/redis, AOF on). Ctrl-C
 * stops everything cleanly.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { connect } from "node:net";
import { resolve } from "node:path";

const SERVICES = [
  { name: "clock", portVar: "CLOCK_PORT", port: 8081 },
  { name: "rooms", portVar: "ROOMS_PORT", port: 8083 },
  { name: "playback", portVar: "PLAYBACK_PORT", port: 8082 },
  { name: "gateway", portVar: "GATEWAY_PORT", port: 8080 },
] as const;

const say = (line: string) => process.stderr.write(`[groovebox] ${line}\n`);

/** True when something at host:port answers PING like a Redis. */
function redisAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    socket.setTimeout(1000, () => socket.destroy());
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => {
      socket.destroy();
      done(/^(\+PONG|-NOAUTH)/.test(data.toString()));
    });
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function healthy(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    return res.ok;
  } catch {
    return false;
  }
}

/** Makes sure a Redis answers at REDIS_URL; returns the private one it started, if any. */
async function ensureRedis(): Promise<ChildProcess | undefined> {
  const url = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 6379);
  if (process.env.REDIS_CLUSTER_NODES || (await redisAnswers(host, port))) return undefined;
  const isLocal = ["127.0.0.1", "localhost", "::1"].includes(host);
  if (!isLocal || spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status !== 0) {
    say(`no Redis answers at ${url.href}.`);
    say("Start one (e.g. `sudo apt-get install redis-server`, or `docker run -p 6379:6379 redis:7`),");
    say("or point REDIS_URL at yours, then run `npm start` again.");
    process.exit(1);
  }
  const dir = resolve(".data/redis");
  mkdirSync(dir, { recursive: true });
  say(`no Redis at ${url.href}: starting a private redis-server on port ${port} (data in ${dir}, AOF on)`);
  const redis = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", "everysec",
      "--maxmemory-policy", "noeviction", "--loglevel", "warning"],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  if (!(await waitFor(() => redisAnswers(host, port), 10_000))) {
    say("the private redis-server did not start");
    redis.kill();
    process.exit(1);
  }
  return redis;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once("exit", () => r()));
}

async function main(): Promise<void> {
  const redis = await ensureRedis();
  const children: Array<{ name: string; child: ChildProcess }> = [];
  let stopping = false;

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say("stopping...");
    for (const { child } of [...children].reverse()) child.kill("SIGTERM");
    await Promise.all(children.map(({ child }) => exited(child)));
    if (redis) {
      redis.kill("SIGTERM");
      await exited(redis);
    }
    say("stopped");
    process.exit(code);
  };
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));

  for (const svc of SERVICES) {
    const port = Number(process.env[svc.portVar] ?? svc.port);
    const nodeArgs = svc.name === "gateway" ? ["--max-semi-space-size=32"] : [];
    const child = spawn(process.execPath, [...nodeArgs, resolve(`dist/services/${svc.name}/main.js`)], {
      stdio: ["ignore", "inherit", "inherit"],
      env: process.env,
    });
    children.push({ name: svc.name, child });
    child.once("exit", (code, signal) => {
      if (stopping) return;
      say(`${svc.name} exited (${signal ?? code}); stopping the others`);
      void stopAll(1);
    });
    if (!(await waitFor(() => healthy(port), 15_000))) {
      say(`${svc.name} did not become healthy on port ${port}`);
      await stopAll(1);
      return;
    }
  }
  const gatewayPort = process.env.GATEWAY_PORT ?? "8080";
  say(`all services up; the public port is http://127.0.0.1:${gatewayPort} (Ctrl-C stops everything)`);
}

void main();
