// Jest loads global setup without its module mapper, so this import names the .ts file.
import { redisServerAvailable, startRedisServer, type PrivateRedis } from "./redis-server.ts";

declare global {
  // eslint-disable-next-line no-var
  var __GROOVEBOX_TEST_REDIS__: PrivateRedis | undefined;
}

/**
 * The test run's Redis: a private redis-server on a free port when the binary is available
 * (it is stopped at the end), otherwise the one at REDIS_URL (default 127.0.0.1:6379). Tests
 * only touch keys of rooms and sessions they create (random ids), so a shared Redis is safe.
 */
export default async function globalSetup(): Promise<void> {
  if (redisServerAvailable()) {
    const redis = await startRedisServer();
    globalThis.__GROOVEBOX_TEST_REDIS__ = redis;
    process.env.REDIS_URL = redis.url;
  } else {
    process.env.REDIS_URL ??= "redis://127.0.0.1:6379";
  }
}
