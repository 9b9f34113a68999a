import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// .ts: Jest loads global setup (which imports this file) without its module mapper.
import { startLocalRedisCluster, type LocalRedisCluster } from "../../scripts/local-redis-cluster.ts";
import { freePort, redisServerInstalled, startLocalRedis, type LocalRedis } from "../../scripts/local-redis.ts";

export const redisServerAvailable = redisServerInstalled;

/**
 * What the tests run on: one Redis (`npm test`), or a Redis Cluster of 3 masters and 3 replicas
 * (`npm run test:cluster`, which sets GROOVEBOX_TEST_REDIS=cluster). The one switch: everything
 * else follows from it.
 */
export type TestRedisMode = "single" | "cluster";
export const testRedisMode = (): TestRedisMode => (process.env.GROOVEBOX_TEST_REDIS === "cluster" ? "cluster" : "single");

/** Where services connect: a single Redis's URL, or (when not empty) a cluster's nodes. */
export interface RedisTarget {
  url: string;
  clusterNodes: Array<{ host: string; port: number }>;
}

export interface PrivateRedis {
  target: RedisTarget;
  /** The environment the services read the target from (REDIS_URL, REDIS_CLUSTER_NODES). */
  env: { REDIS_URL: string; REDIS_CLUSTER_NODES: string };
  /** Stops every server and waits for them to exit. */
  stop(): Promise<void>;
  /** Starts them again on the same ports (after stop()); a cluster is ok again when this resolves. */
  restart(): Promise<void>;
  /** Stops them and removes their files. */
  destroy(): Promise<void>;
  /** A cluster's masters with the number of keys each holds. */
  keysPerMaster?(): Promise<Array<{ port: number; keys: number }>>;
  /** A cluster's nodes, for tests that kill one or move slots. */
  cluster?: LocalRedisCluster;
}

/**
 * Starts a private, throw-away Redis of the run's mode on free ports. With `persist`, it keeps
 * append-only files (fsync always) in a temporary folder, so its data survives stop() and
 * restart().
 */
export async function startPrivateRedis(opts: { persist?: boolean; mode?: TestRedisMode } = {}): Promise<PrivateRedis> {
  return (opts.mode ?? testRedisMode()) === "cluster" ? startPrivateCluster(opts) : startPrivateSingle(opts);
}

async function startPrivateSingle(opts: { persist?: boolean }): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = opts.persist ? mkdtempSync(join(tmpdir(), "groovebox-redis-")) : undefined;
  let current: LocalRedis = await startLocalRedis({ port, dir, fsyncAlways: true });
  return {
    target: { url: current.url, clusterNodes: [] },
    env: { REDIS_URL: current.url, REDIS_CLUSTER_NODES: "" },
    stop: () => current.stop(),
    async restart() {
      current = await startLocalRedis({ port, dir, fsyncAlways: true });
    },
    async destroy() {
      await current.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startPrivateCluster(opts: { persist?: boolean }): Promise<PrivateRedis> {
  const cluster = await startLocalRedisCluster({ persist: opts.persist });
  const first = cluster.nodes[0]!;
  const url = `redis://${first.host}:${first.port}`;
  return {
    target: { url, clusterNodes: cluster.nodes },
    env: { REDIS_URL: url, REDIS_CLUSTER_NODES: cluster.nodeList },
    stop: () => cluster.stop(),
    restart: () => cluster.restart(),
    destroy: () => cluster.destroy(),
    keysPerMaster: () => cluster.keysPerMaster(),
    cluster,
  };
}
