// Jest loads global setup without its module mapper, so this import names the .ts file.
import { traceTimers } from "./timer-trace.ts";
import { redisServerAvailable, startPrivateRedis, testRedisMode, type PrivateRedis } from "./redis-server.ts";

declare global {
  // eslint-disable-next-line no-var
  var __GROOVEBOX_TEST_REDIS__: PrivateRedis | undefined;
}

/**
 * The test run's Redis, handed to the tests in REDIS_URL and REDIS_CLUSTER_NODES (as to the
 * services).
 *
 * Single mode (`npm test`): a private redis-server on a free port when the binary is available
 * (it is stopped at the end), otherwise the one at REDIS_URL (default 127.0.0.1:6379). Tests
 * only touch keys of rooms and sessions they create (random ids), so a shared Redis is safe.
 *
 * Cluster mode (`npm run test:cluster`): a private cluster of 3 masters and 3 replicas, or the
 * one at REDIS_CLUSTER_NODES when redis-server is not installed.
 */
export default async function globalSetup(): Promise<void> {
  traceTimers();
  const mode = testRedisMode();
  if (redisServerAvailable()) {
    const redis = await startPrivateRedis({ mode });
    globalThis.__GROOVEBOX_TEST_REDIS__ = redis;
    Object.assign(process.env, redis.env);
  } else if (mode === "cluster") {
    if (!process.env.REDIS_CLUSTER_NODES) {
      throw new Error("cluster tests need redis-server and redis-cli on the PATH, or REDIS_CLUSTER_NODES");
    }
  } else {
    process.env.REDIS_URL ??= "redis://127.0.0.1:6379";
    process.env.REDIS_CLUSTER_NODES = "";
  }
}
