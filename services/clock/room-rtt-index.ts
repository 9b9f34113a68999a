import { numberSetting } from "../common/config.js";
import { roomKeys } from "../common/keys.js";
import type { RedisClient } from "../common/redis.js";

/**
 * The room round-trip index: per room, its sessions' typical round trips and the time of
 * their newest samples (two sorted sets under the room's tag, `room:{id}:rtt` and
 * `room:{id}:rtt.seen`), so "the largest fresh round trip in this room" is one O(log n) read.
 *
 * The clock service writes it beside each session's estimate; the playback service reads it
 * inside its own room script (a Start's buffer), through LUA_ROOM_MAX_RTT here, so the
 * index's format and freshness rule stay in this module.
 */

/** A session's round trip counts for its room while its newest sample is this young (both services read it). */
export const rttFreshSetting = numberSetting("CLOCK_RTT_FRESH_MS", 30_000, { min: 1000, integer: true });

/** The round trips of a room's sessions with fresh samples. */
export interface RoomRtt {
  /** The largest; 0 when no session is fresh. */
  maxRttMs: number;
  sessionCount: number;
}

/** Enters (or refreshes) a session in its room's index. The keys live twice the freshness. */
export async function indexSession(
  redis: RedisClient,
  entry: { roomId: string; sessionId: string; typicalRttMs: number; lastSampleTimeMs: number },
  freshMs: number,
): Promise<void> {
  const { roomId, sessionId } = entry;
  await redis
    .multi()
    .zadd(roomKeys.rtt(roomId), entry.typicalRttMs, sessionId)
    .zadd(roomKeys.rttSeen(roomId), entry.lastSampleTimeMs, sessionId)
    .pexpire(roomKeys.rtt(roomId), freshMs * 2)
    .pexpire(roomKeys.rttSeen(roomId), freshMs * 2)
    .exec();
}

/** Takes a session out of a room's index. */
export async function unindexSession(redis: RedisClient, roomId: string, sessionId: string): Promise<void> {
  await redis.multi().zrem(roomKeys.rtt(roomId), sessionId).zrem(roomKeys.rttSeen(roomId), sessionId).exec();
}

/**
 * Lua for room scripts (after LUA_ROOM_KEYS): room_max_rtt(cutoff) drops the sessions whose
 * newest sample is older than `cutoff` (server time, ms) from the index and returns the largest
 * remaining round trip (a string, '0' for none) and how many remain.
 */
export const LUA_ROOM_MAX_RTT = `
local function room_max_rtt(cutoff)
  local stale = redis.call('ZRANGEBYSCORE', K.rttSeen, '-inf', '(' .. cutoff)
  for i = 1, #stale, 500 do
    local chunk = {unpack(stale, i, math.min(i + 499, #stale))}
    redis.call('ZREM', K.rtt, unpack(chunk))
    redis.call('ZREM', K.rttSeen, unpack(chunk))
  end
  local top = redis.call('ZREVRANGE', K.rtt, 0, 0, 'WITHSCORES')
  return top[2] or '0', redis.call('ZCARD', K.rtt)
end
`;

/** The freshness cutoff for a read at `nowMs`. */
export const rttCutoff = (nowMs: number, freshMs: number) => nowMs - freshMs;

/** RoomRtt from room_max_rtt's two results. */
export const decodeRoomRtt = (max: unknown, count: unknown): RoomRtt => ({ maxRttMs: Number(max), sessionCount: Number(count) });
