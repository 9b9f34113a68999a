import { roomKeys, sessionKeys } from "../common/keys.js";
import { LuaScript, type RedisClient } from "../common/redis.js";
import {
  estimateClock,
  evaluateExchange,
  type ClockEstimateValue,
  type ClockSampleValue,
  type EstimatorOptions,
  type ExchangeTimes,
} from "./estimator.js";

export interface SampleStoreOptions extends EstimatorOptions {
  /** How long a session's clock keys live after its last sample. */
  sessionTtlMs: number;
  /** A session's round trip counts for its room while its newest sample is this young. */
  rttFreshMs: number;
}

export interface SessionSamples {
  sessionId: string;
  roomId: string;
  exchanges: ExchangeTimes[];
}

/** The round trips of a room's sessions with fresh samples. */
export interface RoomRtt {
  maxRttMs: number;
  sessionCount: number;
}

/**
 * Drops the room's stale entries (newest sample older than the cutoff) and returns the largest
 * remaining round trip and how many remain. Touches only the room's two index keys.
 */
const roomMaxRttScript = new LuaScript(`
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
for i = 1, #stale, 500 do
  local chunk = {unpack(stale, i, math.min(i + 499, #stale))}
  redis.call('ZREM', KEYS[1], unpack(chunk))
  redis.call('ZREM', KEYS[2], unpack(chunk))
end
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {top[2] or '0', redis.call('ZCARD', KEYS[1])}
`);

/** Samples are kept as "t1,rtt,offset" strings: compact, and readable in redis-cli. */
const encodeSample = (s: ClockSampleValue) => `${s.serverTimeMs},${s.rttMs},${s.offsetMs}`;

function decodeSample(raw: string): ClockSampleValue | undefined {
  const [t1, rtt, offset] = raw.split(",").map(Number);
  if (![t1, rtt, offset].every(Number.isFinite)) return undefined;
  return { serverTimeMs: t1!, rttMs: rtt!, offsetMs: offset! };
}

/**
 * The clock service's storage: each session's window of samples and estimate under its own
 * hash tag, and per room an index of its sessions' typical round trips (sorted sets, so the
 * room's maximum is one O(log n) read, never a scan).
 */
export function createSampleStore(redis: RedisClient, opts: SampleStoreOptions) {
  async function indexInRoom(roomId: string, sessionId: string, estimate: ClockEstimateValue): Promise<void> {
    const ttl = opts.rttFreshMs * 2;
    await redis
      .multi()
      .zadd(roomKeys.rtt(roomId), estimate.typicalRttMs, sessionId)
      .zadd(roomKeys.rttSeen(roomId), estimate.lastSampleTimeMs, sessionId)
      .pexpire(roomKeys.rtt(roomId), ttl)
      .pexpire(roomKeys.rttSeen(roomId), ttl)
      .exec();
  }

  async function removeFromRoom(roomId: string, sessionId: string): Promise<void> {
    await redis.multi().zrem(roomKeys.rtt(roomId), sessionId).zrem(roomKeys.rttSeen(roomId), sessionId).exec();
  }

  /** Appends samples to a session's window and returns the whole window. One session tag. */
  async function appendToWindow(sessionId: string, samples: ClockSampleValue[]): Promise<ClockSampleValue[]> {
    const key = sessionKeys.clockSamples(sessionId);
    const results = await redis
      .multi()
      .rpush(key, ...samples.map(encodeSample))
      .ltrim(key, -opts.windowSize, -1)
      .pexpire(key, opts.sessionTtlMs)
      .lrange(key, 0, -1)
      .exec();
    const raw = (results?.[3]?.[1] as string[] | undefined) ?? [];
    return raw.map(decodeSample).filter((s): s is ClockSampleValue => s !== undefined);
  }

  async function writeEstimate(sessionId: string, estimate: ClockEstimateValue, lastRttMs: number): Promise<void> {
    const ttl = opts.sessionTtlMs;
    await redis
      .multi()
      .set(sessionKeys.clockOffset(sessionId), String(estimate.offsetMs), "PX", ttl)
      .set(sessionKeys.lastRtt(sessionId), String(lastRttMs), "PX", ttl)
      .hset(sessionKeys.clockEstimate(sessionId), {
        offsetMs: estimate.offsetMs,
        rttMs: estimate.rttMs,
        typicalRttMs: estimate.typicalRttMs,
        sampleCount: estimate.sampleCount,
        sampleTimeMs: estimate.sampleTimeMs,
        lastSampleTimeMs: estimate.lastSampleTimeMs,
      })
      .pexpire(sessionKeys.clockEstimate(sessionId), ttl)
      .exec();
  }

  return {
    /**
     * Records one session's new exchanges: invalid ones are dropped, the rest join the
     * window, the estimate is chosen again and written to the seed keys, and the session's
     * room index entry is refreshed. Returns how many were accepted.
     */
    async record(batch: SessionSamples, nowMs: number): Promise<number> {
      const valid = batch.exchanges
        .map((times) => evaluateExchange(times, opts))
        .filter((s): s is ClockSampleValue => s !== undefined);
      if (valid.length === 0) return 0;
      const window = await appendToWindow(batch.sessionId, valid);
      const estimate = estimateClock(window, nowMs, opts);
      if (estimate === undefined) return valid.length;
      await writeEstimate(batch.sessionId, estimate, valid[valid.length - 1]!.rttMs);
      if (batch.roomId !== "") await indexInRoom(batch.roomId, batch.sessionId, estimate);
      return valid.length;
    },

    /** The session's current estimate, or undefined when it has none fresh. */
    async estimate(sessionId: string, nowMs: number): Promise<ClockEstimateValue | undefined> {
      const raw = await redis.lrange(sessionKeys.clockSamples(sessionId), 0, -1);
      const window = raw.map(decodeSample).filter((s): s is ClockSampleValue => s !== undefined);
      return estimateClock(window, nowMs, opts);
    },

    /** The largest fresh round trip of the room's sessions. */
    async roomMaxRtt(roomId: string, nowMs: number): Promise<RoomRtt> {
      const [max, count] = (await roomMaxRttScript.run(
        redis,
        [roomKeys.rtt(roomId), roomKeys.rttSeen(roomId)],
        [nowMs - opts.rttFreshMs],
      )) as [string, number];
      return { maxRttMs: Number(max), sessionCount: Number(count) };
    },

    /** Moves a session's index entry from one room to another (either may be ""). */
    async setSessionRoom(sessionId: string, roomId: string, previousRoomId: string, nowMs: number): Promise<void> {
      if (previousRoomId !== "" && previousRoomId !== roomId) await removeFromRoom(previousRoomId, sessionId);
      if (roomId === "") return;
      const current = await this.estimate(sessionId, nowMs);
      if (current !== undefined) await indexInRoom(roomId, sessionId, current);
    },

    /** Forgets a session entirely. */
    async endSession(sessionId: string, roomId: string): Promise<void> {
      await redis.del(
        sessionKeys.clockSamples(sessionId),
        sessionKeys.clockEstimate(sessionId),
        sessionKeys.clockOffset(sessionId),
        sessionKeys.lastRtt(sessionId),
        sessionKeys.syncReport(sessionId),
      );
      if (roomId !== "") await removeFromRoom(roomId, sessionId);
    },

    /** Keeps the client's own report of its synchronisation, for diagnostics. */
    async recordReport(sessionId: string, report: Record<string, number>, nowMs: number): Promise<void> {
      const key = sessionKeys.syncReport(sessionId);
      await redis
        .multi()
        .hset(key, { ...report, reportedAtMs: nowMs })
        .pexpire(key, opts.sessionTtlMs)
        .exec();
    },
  };
}

export type SampleStore = ReturnType<typeof createSampleStore>;
