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
import { indexSession, unindexSession } from "./room-rtt-index.js";
import { decodeFilter, decodeFloor, decodeSamples, encodeEstimate, encodeSample } from "./session-record.js";

export interface SampleStoreOptions extends ClockFilterOptions {
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

/**
 * The clock service's storage: each session's window of samples and estimate under its own
 * hash tag (see session-record.ts), and the room round-trip index (room-rtt-index.ts).
 */
export function createSampleStore(redis: RedisClient, opts: SampleStoreOptions) {
  const indexInRoom = (roomId: string, sessionId: string, estimate: ClockEstimateValue) =>
    indexSession(redis, { roomId, sessionId, typicalRttMs: estimate.typicalRttMs, lastSampleTimeMs: estimate.lastSampleTimeMs }, opts.rttFreshMs);

  /** A session's stored window, filter and floor (one session tag). */
  async function readSession(
    sessionId: string,
  ): Promise<{ window: ClockSampleValue[]; filter: ClockFilterState["filter"] | undefined; floor: RttFloor | undefined }> {
    const results = await redis
      .multi()
      .lrange(sessionKeys.clockSamples(sessionId), 0, -1)
      .hgetall(sessionKeys.clockEstimate(sessionId))
      .exec();
    const [samples, estimate] = [results?.[0]?.[1] as string[] | undefined, results?.[1]?.[1] as Record<string, string> | undefined];
    return { window: decodeSamples(samples ?? []), filter: decodeFilter(estimate ?? {}), floor: decodeFloor(estimate ?? {}) };
  }

  /**
   * Stores a session's new samples and estimate: the window (appended and trimmed as the
   * estimator did), the estimate at its newest sample with the filter, and the seed keys: the
   * offset extrapolated to `nowMs` and the newest sample's round trip. One session tag.
   */
  async function writeSession(sessionId: string, fresh: ClockSampleValue[], session: ClockFilterState, nowMs: number): Promise<void> {
    const ttl = opts.sessionTtlMs;
    const samplesKey = sessionKeys.clockSamples(sessionId);
    await redis
      .multi()
      .rpush(samplesKey, ...fresh.map(encodeSample))
      .ltrim(samplesKey, -opts.windowSize, -1)
      .pexpire(samplesKey, ttl)
      .set(sessionKeys.clockOffset(sessionId), String(estimateAt(session, nowMs, opts).offsetMs), "PX", ttl)
      .set(sessionKeys.lastRtt(sessionId), String(fresh[fresh.length - 1]!.rttMs), "PX", ttl)
      .hset(sessionKeys.clockEstimate(sessionId), encodeEstimate(estimateAt(session, session.filter.referenceTimeMs, opts), session.filter, session.floor))
      .pexpire(sessionKeys.clockEstimate(sessionId), ttl)
      .exec();
  }

  return {
    /**
     * Records one session's new exchanges: invalid ones are dropped, the rest update the
     * session's window and drift filter, the estimate and the seed keys are written, and the
     * session's room index entry is refreshed. Returns how many were accepted.
     *
     * Read, compute, write: a gateway sends one session's samples one call at a time, in order,
     * so two calls never update the same session at once.
     */
    async record(batch: SessionSamples, nowMs: number): Promise<number> {
      const valid = batch.exchanges
        .map((times) => evaluateExchange(times, opts))
        .filter((s): s is ClockSampleValue => s !== undefined);
      if (valid.length === 0) return 0;
      const session = advanceClockFilter(await readSession(batch.sessionId), valid, opts)!;
      await writeSession(batch.sessionId, valid, session, nowMs);
      if (batch.roomId !== "") await indexInRoom(batch.roomId, batch.sessionId, estimateAt(session, nowMs, opts));
      return valid.length;
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
      if (previousRoomId !== "" && previousRoomId !== roomId) await unindexSession(redis, previousRoomId, sessionId);
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
      );
      if (roomId !== "") await unindexSession(redis, roomId, sessionId);
    },
  };
}

export type SampleStore = ReturnType<typeof createSampleStore>;
