import { Code, ConnectError } from "@connectrpc/connect";
import type { ClockSource } from "../common/clock-source.js";
import { userKeys } from "../common/keys.js";
import type { Logger } from "../common/logger.js";
import { LuaScript, type RedisClient } from "../common/redis.js";

/**
 * ARGV: now (ms), lease end (ms), session id, the most streams, lease (ms). Drops the user's
 * expired leases (streams of a gateway that died), then takes one if there is room.
 */
const acquireScript = new LuaScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`);

/**
 * ARGV: lease end (ms), session id, lease (ms). Extends a lease; one that ran out while its
 * stream stayed open (renewals delayed) is taken again: the stream still counts.
 */
const renewScript = new LuaScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`);

/** Lease renewals sent at once (one pipeline of scripts each). */
const RENEW_CHUNK = 500;

/**
 * Streams per user across every gateway: each open stream holds a lease in the user's sorted
 * set `user:{userId}:streams` (one hash tag per user), renewed by its gateway while it is open
 * and removed when it ends. A gateway that dies stops renewing, and its streams' leases run
 * out after `leaseMs`, so a crash frees the user's places by itself. When Redis cannot be
 * reached, the gateway's own per-user count (stream-core) is the only limit: clock sync keeps
 * working without Redis.
 */
export function createStreamLeases(deps: { redis: RedisClient; clock: ClockSource; logger: Logger; maxPerUser: number; leaseMs: number }) {
  const { redis, clock, logger, maxPerUser, leaseMs } = deps;
  /** Leases this gateway holds: session id -> user id. */
  const held = new Map<string, string>();
  /** The renewal in progress: a renewal never starts while the last one runs. */
  let renewing: Promise<void> | undefined;

  async function renewAll(): Promise<void> {
    const end = clock.now() + leaseMs;
    const leases = [...held];
    for (let i = 0; i < leases.length; i += RENEW_CHUNK) {
      await Promise.all(
        leases.slice(i, i + RENEW_CHUNK).map(([sessionId, userId]) =>
          renewScript.run(redis, [userKeys.streams(userId)], [end, sessionId, leaseMs]).catch((err: unknown) => {
            logger.debug({ err, userId, sessionId }, "stream lease not renewed");
          }),
        ),
      );
    }
  }

  return {
    /** Takes a lease for a new stream; RESOURCE_EXHAUSTED when the user has too many streams open. */
    async acquire(userId: string, sessionId: string): Promise<void> {
      const now = clock.now();
      let granted: unknown;
      try {
        granted = await acquireScript.run(redis, [userKeys.streams(userId)], [now, now + leaseMs, sessionId, maxPerUser, leaseMs]);
      } catch (err) {
        logger.warn({ err, userId }, "stream lease not taken (Redis unreachable); only this gateway's count applies");
        return;
      }
      if (granted !== 1) {
        throw new ConnectError(`at most ${maxPerUser} streams per user (across all gateways): close one first`, Code.ResourceExhausted);
      }
      held.set(sessionId, userId);
    },

    /** Gives a stream's lease back (in the background: it runs out anyway). */
    release(sessionId: string): void {
      const userId = held.get(sessionId);
      if (userId === undefined) return;
      held.delete(sessionId);
      redis.zrem(userKeys.streams(userId), sessionId).catch((err: unknown) => {
        logger.debug({ err, userId, sessionId }, "stream lease not released; it will run out");
      });
    },

    /** Extends every lease this gateway holds (call well within leaseMs); while a renewal runs, calling again returns it. */
    renew(): Promise<void> {
      renewing ??= renewAll().finally(() => (renewing = undefined));
      return renewing;
    },
  };
}

export type StreamLeases = ReturnType<typeof createStreamLeases>;
