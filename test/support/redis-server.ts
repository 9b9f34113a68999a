import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, redisServerInstalled, startLocalRedis, type LocalRedis } from "../../scripts/local-redis.ts"; // .ts: Jest loads global setup without its module mapper

export const redisServerAvailable = redisServerInstalled;

export interface PrivateRedis {
  url: string;
  port: number;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop()). */
  restart(): Promise<void>;
}

/**
 * Starts a private, throw-away redis-server on a free port. With `persist`, it keeps an
 * append-only file in a temporary folder, so its data survives stop() and restart().
 */
export async function startRedisServer(opts: { persist?: boolean } = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = opts.persist ? mkdtempSync(join(tmpdir(), "groovebox-redis-")) : undefined;
  let current: LocalRedis = await startLocalRedis({ port, dir, fsyncAlways: true });
  return {
    url: current.url,
    port,
    stop: () => current.stop(),
    async restart() {
      current = await startLocalRedis({ port, dir, fsyncAlways: true });
    },
  };
}
