import { LUA_ROOM_KEYS, roomKeys, roomScriptKeys } from "../common/keys.js";
import { LuaScript, type RedisClient } from "../common/redis.js";
import { LUA_PUBLISH_ROOM_EVENT } from "../common/room-events.js";
import { decodeRoomRtt, LUA_ROOM_MAX_RTT } from "../clock/room-rtt-index.js";
import { LUA_ROOM_MAX_OUTPUT_LATENCY } from "../rooms/member-sync.js";
import { decodePlaybackRecord, encodePlaybackRecord } from "./playback-record.js";
import type { RoomDelays, Timeline } from "./timeline.js";

/**
 * ARGV 1: the reader's user id ("" for a service); 2: for a command, the freshness cutoff of the
 * room round-trip index ("" for a plain read). The room's delays (round trips, output
 * latencies) are read (and the round trips pruned) only for the DJ or the system: a refused
 * command costs nothing more.
 */
const readScript = new LuaScript(`${LUA_ROOM_KEYS}${LUA_ROOM_MAX_RTT}${LUA_ROOM_MAX_OUTPUT_LATENCY}
local member = 0
if ARGV[1] ~= '' then member = redis.call('HEXISTS', K.members, ARGV[1]) end
local dj = redis.call('GET', K.currentDj) or ''
local max_rtt, rtt_count, max_latency = '0', 0, '0'
if ARGV[2] ~= '' and (ARGV[1] == '' or ARGV[1] == dj) then
  max_rtt, rtt_count = room_max_rtt(ARGV[2])
  max_latency = room_max_output_latency()
end
return {redis.call('EXISTS', K.meta), dj, redis.call('GET', K.playback) or '', member, max_rtt, rtt_count, max_latency}
`);

/** Lua: the version of the stored timeline (0 when none or unreadable). */
const LUA_STORED_VERSION = `
local function stored_version(key)
  local raw = redis.call('GET', key)
  if not raw then return 0 end
  local ok, record = pcall(cjson.decode, raw)
  if ok and type(record) == 'table' then return tonumber(record.version) or 0 end
  return 0
end
`;

/**
 * The compare-and-set of a room's timeline, with its event, in one step.
 * ARGV 1: the version the change was computed from; 2: the DJ giving the command ("" for the
 * system, e.g. a track reaching its end); 3: the new timeline (JSON); 4: the RoomEvent bytes.
 * The stored timeline keeps the room's TTL (an empty room still expires).
 */
const commitScript = new LuaScript(`${LUA_ROOM_KEYS}${LUA_PUBLISH_ROOM_EVENT}${LUA_STORED_VERSION}
if redis.call('EXISTS', K.meta) == 0 then return {'NOT_FOUND', '0'} end
if ARGV[2] ~= '' and redis.call('GET', K.currentDj) ~= ARGV[2] then return {'NOT_DJ', '0'} end
local version = stored_version(K.playback)
if version ~= tonumber(ARGV[1]) then return {'CONFLICT', tostring(version)} end
redis.call('SET', K.playback, ARGV[3], 'KEEPTTL')
return {'OK', tostring(publish_room_event(K.seq, K.events, ARGV[4]))}
`);

/**
 * A periodic playback_sync of a room, sent once: only if the timeline is still at the version
 * it was computed from, and only if no tick at or after its server time was sent before.
 * KEYS: meta, playback, seq, sync tick mark, events channel (one room's tag).
 * ARGV 1: the version; 2: the tick's server time (ms); 3: how long the mark lives (ms);
 * 4: the RoomEvent bytes.
 */
const syncTickScript = new LuaScript(`${LUA_PUBLISH_ROOM_EVENT}${LUA_STORED_VERSION}
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOT_FOUND' end
if stored_version(KEYS[2]) ~= tonumber(ARGV[1]) then return 'CONFLICT' end
local last = tonumber(redis.call('GET', KEYS[4]) or '0') or 0
if last >= tonumber(ARGV[2]) then return 'DUPLICATE' end
redis.call('SET', KEYS[4], ARGV[2], 'PX', ARGV[3])
publish_room_event(KEYS[3], KEYS[5], ARGV[4])
return 'OK'
`);

export interface PlaybackRoom {
  timeline: Timeline;
  currentDjId: string;
  isMember: boolean;
  /** The room's fresh round trips and largest output latency, when read for a command by its DJ (or the system). */
  delays: RoomDelays;
}

export type CommitStatus = "OK" | "NOT_FOUND" | "NOT_DJ" | "CONFLICT";
export type SyncTickStatus = "OK" | "NOT_FOUND" | "CONFLICT" | "DUPLICATE";

/** The playback service's storage: the seed key `room:{roomId}:state.playback`, read and compare-and-set. */
export function createPlaybackStore(redis: RedisClient) {
  return {
    /**
     * The room's timeline and DJ, and whether `userId` is a member; undefined for no room. With
     * `rttCutoffMs` (a command) also the room's round trips fresher than it, when `userId` is
     * the DJ or "" (the system); otherwise none.
     */
    async read(roomId: string, userId: string, rttCutoffMs?: number): Promise<PlaybackRoom | undefined> {
      const [exists, dj, raw, member, maxRtt, rttCount, maxLatency] = (await readScript.run(redis, roomScriptKeys(roomId), [
        userId,
        rttCutoffMs ?? "",
      ])) as [number, string, string, number, string, number, string];
      if (exists === 0) return undefined;
      const rtt = decodeRoomRtt(maxRtt, rttCount);
      return {
        timeline: decodePlaybackRecord(raw),
        currentDjId: dj,
        isMember: member === 1,
        delays: { maxRttMs: rtt.sessionCount > 0 ? rtt.maxRttMs : undefined, maxOutputLatencyMs: Number(maxLatency) },
      };
    },

    /** Stores `next` if the room is still at `fromVersion` (and `djId` still DJ), publishing `event`. */
    async commit(roomId: string, fromVersion: number, djId: string, next: Timeline, event: Uint8Array): Promise<CommitStatus> {
      const [status] = (await commitScript.run(redis, roomScriptKeys(roomId), [
        fromVersion,
        djId,
        encodePlaybackRecord(next),
        Buffer.from(event),
      ])) as [CommitStatus, string];
      return status;
    },

    /** Publishes a sync tick computed from timeline `version` at `tickMs`, once (see syncTickScript). */
    async publishSyncTick(roomId: string, version: number, tickMs: number, markTtlMs: number, event: Uint8Array): Promise<SyncTickStatus> {
      const keys = [roomKeys.meta(roomId), roomKeys.playback(roomId), roomKeys.seq(roomId), roomKeys.syncTick(roomId), roomKeys.events(roomId)];
      return (await syncTickScript.run(redis, keys, [version, tickMs, Math.ceil(markTtlMs), Buffer.from(event)])) as SyncTickStatus;
    },
  };
}

export type PlaybackStore = ReturnType<typeof createPlaybackStore>;
