import { randomInt } from "node:crypto";
import { sessionKeys } from "../common/keys.js";
import type { RedisClient } from "../common/redis.js";
import {
  advanceClockFilter,
  estimateAt,
  evaluateExchange,
  type ClockEstimateValue,
  type ClockSampleValue,
  type ClockFilterOptions,
  type ExchangeTimes,
  type ClockFilterState,
  type RttFloor,
} from "../../clients/sdk/clock/clock-filter.js";
import { LuaScript } from "../common/redis.js";
import { indexSession, unindexSession } from "./room-rtt-index.js";
import { SessionCache, type IndexedRtt } from "./session-cache.js";
import { decodeFilter, decodeFloor, decodeSamples, decodeVersion, encodeEstimate, encodeSample } from "./session-record.js";

export interface SampleStoreOptions extends ClockFilterOptions {
  /** How long a session's clock keys live after its last sample. */
  sessionTtlMs: number;
  /** A session's round trip counts for its room while its newest sample is this young. */
  rttFreshMs: number;
  /** Sessions whose filter state this process keeps between samples (0: read each time). */
  sessionCacheSize: number;
  /**
   * A session's room index entry is rewritten when its typical round trip moved by more than
   * this (ms) and by more than rttIndexStepRatio of itself, or when the entry's sample time is
   * a quarter of rttFreshMs old; not for every sample (0 and 0: whenever the round trip moved).
   */
  rttIndexStepMs: number;
  rttIndexStepRatio: number;
}

export interface SessionSamples {
  sessionId: string;
  roomId: string;
  exchanges: ExchangeTimes[];
}

/** Writes refused because another writer moved the session on, before a batch gives up. */
const MAX_WRITE_ATTEMPTS = 3;

/**
 * A session's new samples and estimate, written only if its record is still at the version
 * they were computed from (ARGV[1]; a missing record is version ""), and given a new one
 * (ARGV[2]). Returns 1, or 0 when the record had moved on. One session tag.
 *
 * A version is a random number, not a count of writes: a record that ended (or expired) and was
 * started again by another process could reach the same count, and a stale state would pass.
 * A number still, so that a process from before (which compared and raised counts) can take
 * turns with these during a rolling upgrade.
 *
 * KEYS: samples, estimate, offset (seed key), lastRtt (seed key)
 * ARGV: version, new version, ttl ms, window size, offset, last rtt, n, n encoded samples (at
 * most the window: Lua's unpack() fails past a few thousand values), estimate field/value pairs
 */
const WRITE_SESSION = new LuaScript(`
if (redis.call('HGET', KEYS[2], 'version') or '') ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[7])
redis.call('RPUSH', KEYS[1], unpack(ARGV, 8, 7 + n))
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[4]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[3])
redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[3])
redis.call('HSET', KEYS[2], 'version', ARGV[2], unpack(ARGV, 8 + n))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`);

/**
 * The clock service's storage: each session's window of samples and estimate under its own
 * hash tag (see session-record.ts), and the room round-trip index (room-rtt-index.ts).
 *
 * A sample costs one script call: the session's state is kept here between its samples
 * (session-cache.ts), checked against the record's version by the write itself, and the room
 * index is rewritten only when the session's round trip moved or its entry grows old.
 */
export function createSampleStore(redis: RedisClient, opts: SampleStoreOptions) {
  const cache = new SessionCache(opts.sessionCacheSize);

  /** Whether the index should get this estimate, given what it last got from here. */
  function indexIsBehind(indexed: IndexedRtt | undefined, roomId: string, estimate: ClockEstimateValue): boolean {
    if (indexed === undefined || indexed.roomId !== roomId) return true;
    const step = Math.max(opts.rttIndexStepMs, opts.rttIndexStepRatio * indexed.typicalRttMs);
    return Math.abs(estimate.typicalRttMs - indexed.typicalRttMs) > step || estimate.lastSampleTimeMs - indexed.lastSampleTimeMs >= opts.rttFreshMs / 4;
  }

  async function indexInRoom(roomId: string, sessionId: string, estimate: ClockEstimateValue): Promise<IndexedRtt> {
    const entry = { roomId, sessionId, typicalRttMs: estimate.typicalRttMs, lastSampleTimeMs: estimate.lastSampleTimeMs };
    await indexSession(redis, entry, opts.rttFreshMs);
    return entry;
  }

  /** A session's stored window, filter, floor and version (one session tag). */
  async function readSession(sessionId: string): Promise<{
    window: ClockSampleValue[];
    filter: ClockFilterState["filter"] | undefined;
    floor: RttFloor | undefined;
    version: string;
  }> {
    const results = await redis
      .multi()
      .lrange(sessionKeys.clockSamples(sessionId), 0, -1)
      .hgetall(sessionKeys.clockEstimate(sessionId))
      .exec();
    const [samples, estimate] = [results?.[0]?.[1] as string[] | undefined, results?.[1]?.[1] as Record<string, string> | undefined];
    return {
      window: decodeSamples(samples ?? []),
      filter: decodeFilter(estimate ?? {}),
      floor: decodeFloor(estimate ?? {}),
      version: decodeVersion(estimate ?? {}),
    };
  }

  /**
   * Stores a session's new samples and estimate if its record is still at `version`: the window
   * (appended and trimmed as the estimator did), the estimate at its newest sample with the
   * filter, and the seed keys: the offset now (`now`, the estimate extrapolated) and the newest
   * sample's round trip. Returns the record's new version, or undefined when it had moved on.
   */
  async function writeSession(sessionId: string, fresh: ClockSampleValue[], session: ClockFilterState, version: string, now: ClockEstimateValue): Promise<string | undefined> {
    const fields = encodeEstimate(estimateAt(session, session.filter.referenceTimeMs, opts), session.filter, session.floor);
    // Only the newest samples stay in the window: the others need not travel.
    const kept = fresh.slice(-opts.windowSize);
    const next = String(randomInt(1, 2 ** 48));
    const written = await WRITE_SESSION.run(
      redis,
      [sessionKeys.clockSamples(sessionId), sessionKeys.clockEstimate(sessionId), sessionKeys.clockOffset(sessionId), sessionKeys.lastRtt(sessionId)],
      [
        version,
        next,
        opts.sessionTtlMs,
        opts.windowSize,
        String(now.offsetMs),
        String(fresh[fresh.length - 1]!.rttMs),
        kept.length,
        ...kept.map(encodeSample),
        ...Object.entries(fields).flatMap(([field, value]) => [field, String(value)]),
      ],
    );
    return Number(written) === 1 ? next : undefined;
  }

  return {
    /**
     * Records one session's new exchanges: invalid ones are dropped, the rest update the
     * session's window and drift filter, the estimate and the seed keys are written, and the
     * session's room index entry is refreshed when it is behind. Returns how many were accepted.
     *
     * Compute from the state kept here (or read), write if the record did not move on meanwhile:
     * a gateway sends one session's samples one call at a time, in order, so the record moves
     * on under a write only when another clock process took an earlier call of the session.
     */
    async record(batch: SessionSamples, nowMs: number): Promise<number> {
      const valid = batch.exchanges
        .map((times) => evaluateExchange(times, opts))
        .filter((s): s is ClockSampleValue => s !== undefined);
      if (valid.length === 0) return 0;
      const { sessionId, roomId } = batch;
      for (let attempt = 1; ; attempt++) {
        const cached = cache.get(sessionId);
        const base = cached ? { ...cached.state, version: cached.version } : await readSession(sessionId);
        const session = advanceClockFilter(base, valid, opts)!;
        const estimate = estimateAt(session, nowMs, opts);
        const version = await writeSession(sessionId, valid, session, base.version, estimate);
        if (version === undefined) {
          // Another writer moved the record on (or it expired): compute again from it.
          cache.delete(sessionId);
          if (attempt === MAX_WRITE_ATTEMPTS) throw new Error(`session ${sessionId}: its clock record kept changing under ${attempt} writes`);
          continue;
        }
        let indexed = cached?.indexed;
        if (roomId !== "" && indexIsBehind(indexed, roomId, estimate)) indexed = await indexInRoom(roomId, sessionId, estimate);
        cache.set(sessionId, { state: session, version, indexed });
        return valid.length;
      }
    },

    /**
     * The session's estimate extrapolated to `nowMs`, or undefined when it has none (never
     * sampled, ended, or silent for longer than the keys' TTL).
     */
    async estimate(sessionId: string, nowMs: number): Promise<ClockEstimateValue | undefined> {
      const { window, filter } = await readSession(sessionId);
      return filter && estimateAt({ window, filter }, nowMs, opts);
    },

    /** Moves a session's index entry from one room to another (either may be ""). */
    async setSessionRoom(sessionId: string, roomId: string, previousRoomId: string, nowMs: number): Promise<void> {
      const cached = cache.get(sessionId);
      if (previousRoomId !== "" && previousRoomId !== roomId) {
        await unindexSession(redis, previousRoomId, sessionId);
        if (cached?.indexed?.roomId === previousRoomId) cached.indexed = undefined;
      }
      if (roomId === "") return;
      const current = await this.estimate(sessionId, nowMs);
      if (current === undefined) return;
      const indexed = await indexInRoom(roomId, sessionId, current);
      if (cached) cached.indexed = indexed;
    },

    /** Forgets a session entirely. */
    async endSession(sessionId: string, roomId: string): Promise<void> {
      cache.delete(sessionId);
      await redis.del(
        sessionKeys.clockSamples(sessionId),
        sessionKeys.clockEstimate(sessionId),
        sessionKeys.clockOffset(sessionId),
        sessionKeys.lastRtt(sessionId),
      );
      if (roomId !== "") await unindexSession(redis, roomId, sessionId);
    },
  };
}

export type SampleStore = ReturnType<typeof createSampleStore>;
