/**
 * What every benchmark needs: the services running as separate processes on free ports
 * (against a private redis-server when one is installed), their Prometheus metrics, guest
 * tokens, percentiles, and a results file.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { ChildProcess } from "node:child_process";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Cluster, Redis } from "ioredis";
import { AuthService } from "../gen/groovebox/auth/v1/auth_pb.js";
import { startLocalRedisCluster, type ClusterNodeAddress, type LocalRedisCluster } from "../scripts/local-redis-cluster.js";
import { freePort, redisServerInstalled, startLocalRedis } from "../scripts/local-redis.js";
import { spawnService, stopProcesses, waitHealthy, type ServiceName } from "../scripts/processes.js";
import { percentile } from "../services/common/stats.js";

export { percentile };

export interface BenchStack {
  /** `operatorPort` serves GET /metrics and /healthz. */
  gateways: Array<{ url: string; port: number; operatorPort: number; pid: number }>;
  /** Processes of the services behind the gateways (clock, rooms, playback, a private Redis). */
  backendPids: number[];
  /** Scheduler processes (the periodic playback_sync), when asked for. */
  schedulers: Array<{ operatorPort: number; pid: number }>;
  /** Every service process by service. */
  pids: Record<ServiceName, number[]>;
  /** The private single Redis's process, when one was started (a cluster's nodes are not listed). */
  redisPid?: number;
  /** The Redis the services use (a cluster: its first node). */
  redisUrl: string;
  /** A Redis Cluster's nodes (masters first), or empty for a single Redis. */
  redisClusterNodes: ClusterNodeAddress[];
  /** The private Redis Cluster the services use, with `redis: "cluster"`. */
  cluster?: LocalRedisCluster;
  stop(): Promise<void>;
}

/** What the stack runs on: one Redis, or a private Redis Cluster of 3 masters and 3 replicas. */
export type BenchRedisMode = "single" | "cluster";

interface BenchRedis {
  url: string;
  clusterNodes: ClusterNodeAddress[];
  pid?: number;
  /** The private cluster itself (its nodes can be stopped and started: bench:failover). */
  cluster?: LocalRedisCluster;
  /** Stops it and removes its files. */
  destroy(): Promise<void>;
}

/**
 * A private Redis on free ports: a redis-server when one is installed (else the one at
 * REDIS_URL, undefined here), or a cluster (which needs redis-server).
 */
async function startBenchRedis(mode: BenchRedisMode): Promise<BenchRedis | undefined> {
  if (mode === "cluster") {
    const cluster = await startLocalRedisCluster();
    const first = cluster.nodes[0]!;
    return { url: `redis://${first.host}:${first.port}`, clusterNodes: cluster.nodes, cluster, destroy: () => cluster.destroy() };
  }
  if (!redisServerInstalled()) return undefined;
  const redis = await startLocalRedis({ port: await freePort() });
  return { url: redis.url, clusterNodes: [], pid: redis.process.pid, destroy: () => redis.stop() };
}

/** A client of the stack's Redis: a cluster client when it runs on a cluster. */
export function connectBenchRedis(stack: Pick<BenchStack, "redisUrl" | "redisClusterNodes">): Redis | Cluster {
  return stack.redisClusterNodes.length > 0 ? new Cluster(stack.redisClusterNodes) : new Redis(stack.redisUrl);
}

/**
 * Starts clock, rooms, playback, `gateways` gateways and `schedulers` schedulers; `env` adds
 * settings (e.g. limits), `gatewayFlags` node flags of the gateways, `root` runs another
 * checkout's build (same-run A/B comparisons), and `redis: "cluster"` puts them on a private
 * Redis Cluster (3 masters, 3 replicas) instead of a single Redis.
 */
export async function startBenchStack(opts: {
  gateways: number;
  schedulers?: number;
  env?: Record<string, string>;
  gatewayFlags?: string[];
  root?: string;
  redis?: BenchRedisMode;
}): Promise<BenchStack> {
  const redis = await startBenchRedis(opts.redis ?? "single");
  const [clockPort, roomsPort, playbackPort] = [await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    LOG_LEVEL: "warn",
    JWT_SECRET: randomBytes(32).toString("hex"),
    REDIS_URL: redis?.url ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    REDIS_CLUSTER_NODES: redis?.clusterNodes.map((n) => `${n.host}:${n.port}`).join(",") ?? "",
    CLOCK_PORT: String(clockPort),
    ROOMS_PORT: String(roomsPort),
    PLAYBACK_PORT: String(playbackPort),
    CLOCK_URL: `http://127.0.0.1:${clockPort}`,
    ROOMS_URL: `http://127.0.0.1:${roomsPort}`,
    PLAYBACK_URL: `http://127.0.0.1:${playbackPort}`,
    // The benchmarks' clients are one machine opening thousands of connections and logins at
    // once: the limits against floods would shed them. bench:overload measures those limits.
    GATEWAY_LOGIN_RATE_PER_ADDRESS: "1000000000/1s",
    GATEWAY_LOGIN_RATE: "1000000000/1s",
    GATEWAY_MAX_PENDING_CONNECTIONS: "1000000",
    ...opts.env,
  };
  const children: ChildProcess[] = [];
  const gateways: BenchStack["gateways"] = [];
  const schedulers: BenchStack["schedulers"] = [];
  const pids: BenchStack["pids"] = { clock: [], rooms: [], playback: [], gateway: [], scheduler: [] };
  // BENCH_<SERVICE>_NODE_FLAGS adds node flags to a service's processes, e.g.
  // BENCH_GATEWAY_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeFlags = (name: ServiceName) => [
    ...(process.env[`BENCH_${name.toUpperCase()}_NODE_FLAGS`] ?? "").split(" ").filter(Boolean),
    ...(name === "gateway" ? (opts.gatewayFlags ?? []) : []),
  ];
  const start = async (name: ServiceName, extra: NodeJS.ProcessEnv = {}) => {
    const operatorPort = await freePort();
    const operatorVar = `${name.toUpperCase()}_OPERATOR_PORT`;
    const child = spawnService(name, { ...env, [operatorVar]: String(operatorPort), ...extra }, undefined, nodeFlags(name), { root: opts.root });
    children.push(child);
    pids[name].push(child.pid!);
    // Generous: on a shared machine under load a service can take long to start.
    if (!(await waitHealthy(operatorPort, 60_000))) throw new Error(`${name} did not become healthy (operators' port ${operatorPort})`);
    return { child, operatorPort };
  };
  // Once, however often it is asked (the run's end, a failed start, Ctrl-C meanwhile).
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const child of [...children].reverse()) await stopProcesses([child]);
      await redis?.destroy();
      unregisterCleanup(stopAll);
    })());
  registerCleanup(stopAll);
  try {
    await start("clock");
    await start("rooms");
    await start("playback");
    for (let i = 0; i < opts.gateways; i++) {
      const port = await freePort();
      const { child, operatorPort } = await start("gateway", { GATEWAY_PORT: String(port) });
      gateways.push({ url: `http://127.0.0.1:${port}`, port, operatorPort, pid: child.pid! });
    }
    for (let i = 0; i < (opts.schedulers ?? 0); i++) {
      const { child, operatorPort } = await start("scheduler", { SCHEDULER_PORT: String(await freePort()) });
      schedulers.push({ operatorPort, pid: child.pid! });
    }
  } catch (err) {
    // A port taken meanwhile (the machine is shared) or a service that failed: leave nothing running.
    await stopAll();
    throw err;
  }
  const notBackend = new Set([...gateways, ...schedulers].map((p) => p.pid));
  return {
    gateways,
    schedulers,
    pids,
    redisPid: redis?.pid,
    backendPids: [...children.map((c) => c.pid!).filter((pid) => !notBackend.has(pid)), ...(redis?.pid ? [redis.pid] : [])],
    redisUrl: env.REDIS_URL!,
    redisClusterNodes: redis?.clusterNodes ?? [],
    cluster: redis?.cluster,
    /** Gateways first (they flush to the others), then the rest, then Redis. */
    stop: stopAll,
  };
}

/** A process's metrics from GET /metrics on its operators' port, summed over label sets. */
export async function scrapeMetrics(operatorPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${operatorPort}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m) values.set(m[1]!, (values.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return values;
}

/** The cumulative bucket counts of a Prometheus histogram (le -> count). */
export async function scrapeHistogram(operatorPort: number, name: string): Promise<Map<number, number>> {
  const text = await (await fetch(`http://127.0.0.1:${operatorPort}/metrics`)).text();
  const buckets = new Map<number, number>();
  const re = new RegExp(`^${name}_bucket\\{.*le="([^"]+)".*\\}\\s+(\\S+)`);
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (m) buckets.set(m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2]));
  }
  return buckets;
}

/**
 * Quantiles (0..1) of what a histogram counted between two scrapes, by the upper bound of the
 * bucket each falls in (so "p99 <= 0.02 s" reads directly).
 */
export function histogramQuantiles(before: Map<number, number>, after: Map<number, number>, qs: number[]) {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => after.get(le)! - (before.get(le) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  return Object.fromEntries(
    qs.map((q) => [`p${q * 100}`, total === 0 ? null : bounds[counts.findIndex((c) => c >= q * total)]!]),
  );
}

/** Logs in `count` guests through a gateway; returns their tokens. */
export async function loginGuests(gatewayUrl: string, count: number): Promise<string[]> {
  const auth = createClient(AuthService, createGrpcTransport({ baseUrl: gatewayUrl }));
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, (_, j) => auth.login({ displayName: `bench-${i + j}` })),
    );
    tokens.push(...batch.map((r) => r.token));
  }
  return tokens;
}

/** Requests in flight at once while creating and starting rooms. */
const IN_FLIGHT = 64;

/** Runs `task` for 0..n-1 with at most IN_FLIGHT at once, each not before `at(i)` (ms from now) when given. */
export async function paced(n: number, task: (i: number) => Promise<void>, at?: (i: number) => number): Promise<void> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < n; i = next++) {
        const wait = at ? t0 + at(i) - performance.now() : 0;
        if (wait > 0) await sleep(wait);
        await task(i);
      }
    }),
  );
}

/** Summary of a latency sample in ms. */
export function summarize(values: number[]) {
  return {
    count: values.length,
    p50: round(percentile(values, 50)),
    p99: round(percentile(values, 99)),
    p999: round(percentile(values, 99.9)),
    max: round(values.reduce((a, b) => Math.max(a, b), -Infinity)),
  };
}

export const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The client's clock: sub-millisecond, monotonic. */
export const now = () => performance.timeOrigin + performance.now();

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Writes `bench/results/<name>.json` and prints it. */
export function writeResults(name: string, results: object): void {
  const dir = resolve("bench/results");
  mkdirSync(dir, { recursive: true });
  const file = resolve(dir, `${name}.json`);
  const body = JSON.stringify({ benchmark: name, at: new Date().toISOString(), ...results }, null, 2);
  writeFileSync(file, body + "\n");
  process.stdout.write(`${body}\nwritten to ${file}\n`);
}

/** What must be stopped and removed if the benchmark is interrupted: running stacks. */
const cleanups = new Set<() => Promise<void>>();
const registerCleanup = (stop: () => Promise<void>) => cleanups.add(stop);
const unregisterCleanup = (stop: () => Promise<void>) => cleanups.delete(stop);

/**
 * Runs a benchmark's main: exits 0 when it is done, 1 (with the error) when it fails. On
 * Ctrl-C or SIGTERM it first stops the stacks still running (services, Redis servers, their
 * temporary folders), then exits 130.
 */
export function runBench(main: () => Promise<void>): void {
  const interrupted = () => {
    process.stderr.write("interrupted: stopping the services and Redis...\n");
    void Promise.allSettled([...cleanups].map((stop) => stop())).then(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
      process.exit(1);
    },
  );
}

/** Integer command-line options: --name=value, with defaults; a bare --name is 1 (a switch). */
export function intArgs<T extends Record<string, number>>(defaults: T): T {
  const out: Record<string, number> = { ...defaults };
  for (const arg of process.argv.slice(2)) {
    const m = /^--([\w-]+)(?:=(\d+(?:\.\d+)?))?$/.exec(arg);
    if (m && m[1]! in out) out[m[1]!] = m[2] === undefined ? 1 : Number(m[2]);
  }
  return out as T;
}
