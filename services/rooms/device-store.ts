import { userKeys } from "../common/keys.js";
import type { RedisClient } from "../common/redis.js";

/** How long a user's devices are remembered after their last report, by default: 30 days. */
export const DEFAULT_DEVICE_TTL_MS = 30 * 24 * 3600_000;

/**
 * What the server remembers of a user's devices: each device's output latency, as its sync
 * reports last gave it, so an app that restarts (same user, same device id) gets it back.
 * One hash per user, under the user's own tag, kept while the user reports.
 */
export function createDeviceStore(redis: RedisClient, opts: { ttlMs: number }) {
  return {
    async remember(userId: string, deviceId: string, outputLatencyMs: number, nowMs: number): Promise<void> {
      const key = userKeys.devices(userId);
      await redis.multi().hset(key, deviceId, `${outputLatencyMs},${nowMs}`).pexpire(key, opts.ttlMs).exec();
    },

    async get(userId: string, deviceId: string): Promise<{ outputLatencyMs: number; updatedAtMs: number } | undefined> {
      const raw = await redis.hget(userKeys.devices(userId), deviceId);
      if (raw === null) return undefined;
      const [latency, at] = raw.split(",").map(Number);
      return Number.isFinite(latency) && Number.isFinite(at) ? { outputLatencyMs: latency!, updatedAtMs: at! } : undefined;
    },
  };
}

export type DeviceStore = ReturnType<typeof createDeviceStore>;
