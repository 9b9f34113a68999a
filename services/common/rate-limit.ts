import { Code, ConnectError } from "@connectrpc/connect";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { Setting } from "./config.js";
import type { RedisClient } from "./redis.js";

/** At most `points` events per `durationS` seconds (a fixed window). */
export interface Rate {
  points: number;
  durationS: number;
}

/** A rate setting written "N/window": "60/1m", "100/1s", "20/1h". */
export function rateSetting(env: string, fallback: string): Setting<Rate> {
  const units: Record<string, number> = { s: 1, m: 60, h: 3600 };
  return {
    env,
    parse(raw) {
      const m = /^(\d+)\s*\/\s*(\d*)\s*([smh])$/.exec((raw ?? fallback).trim());
      if (!m || Number(m[1]) < 1) throw new Error('must be a rate like "60/1m" (events per window of s, m or h)');
      return { points: Number(m[1]), durationS: Number(m[2] || 1) * units[m[3]!]! };
    },
  };
}

const describe = (rate: Rate) =>
  rate.durationS % 3600 === 0 ? `${rate.durationS / 3600} h` : rate.durationS % 60 === 0 ? `${rate.durationS / 60} min` : `${rate.durationS} s`;

/**
 * A rate limit kept in Redis, so it holds across every process that serves the same thing
 * (rate-limiter-flexible: one key, one atomic script, Cluster-safe when the key carries a hash
 * tag). Once a key is over its limit, the process answers from memory until the window ends,
 * so a flood costs Redis nothing; when Redis is unreachable, each process limits on its own
 * (the same rate, in memory) rather than letting everything through or refusing everyone.
 */
export function createRateLimit(redis: RedisClient, rate: Rate, what: string) {
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: "", // keys come whole from keys.ts
    points: rate.points,
    duration: rate.durationS,
    inMemoryBlockOnConsumed: rate.points,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix: "", points: rate.points, duration: rate.durationS }),
  });
  /** Counts one event under `key`; RESOURCE_EXHAUSTED (with when to retry) past the limit. */
  return async function take(key: string): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      const retryS = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw new ConnectError(`${what}: at most ${rate.points} per ${describe(rate)}; retry in ${retryS} s`, Code.ResourceExhausted);
    }
  };
}

export type RateLimit = ReturnType<typeof createRateLimit>;
