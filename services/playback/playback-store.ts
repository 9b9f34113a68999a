import { LUA_ROOM_KEYS, roomScriptKeys } from "../common/keys.js";
import { LuaScript, type RedisClient } from "../common/redis.js";
import { LUA_PUBLISH_ROOM_EVENT } from "../common/room-events.js";
import { decodePlaybackRecord, encodePlaybackRecord } from "./playback-record.js";
import type { Timeline } from "./timeline.js";

/** ARGV 1: the reader's user id ("" for a service). */
const readScript = new LuaScript(`${LUA_ROOM_KEYS}
local member = 0
if ARGV[1] ~= '' then member = redis.call('HEXISTS', K.members, ARGV[1]) end
return {redis.call('EXISTS', K.meta), redis.call('GET', K.currentDj) or '', redis.call('GET', K.playback) or '', member}
`);

/**
 * The compare-and-set of a room's timeline, with its event, in one step.
 * ARGV 1: the version the change was computed from; 2: the DJ giving the command ("" for the
 * system, e.g. a track reaching its end); 3: the new timeline (JSON); 4: the RoomEvent bytes.
 * The stored timeline keeps the room's TTL (an empty room still expires).
 */
const commitScript = new LuaScript(`${LUA_ROOM_KEYS}${LUA_PUBLISH_ROOM_EVENT}
if redis.call('EXISTS', K.meta) == 0 then return {'NOT_FOUND', '0'} end
if ARGV[2] ~= '' and redis.call('GET', K.currentDj) ~= ARGV[2] then return {'NOT_DJ', '0'} end
local version = 0
local raw = redis.call('GET', K.playback)
if raw then
  local ok, record = pcall(cjson.decode, raw)
  if ok and type(record) == 'table' then version = tonumber(record.version) or 0 end
end
if version ~= tonumber(ARGV[1]) then return {'CONFLICT', tostring(version)} end
redis.call('SET', K.playback, ARGV[3], 'KEEPTTL')
return {'OK', tostring(publish_room_event(K.seq, K.events, ARGV[4]))}
`);

export interface PlaybackRoom {
  timeline: Timeline;
  currentDjId: string;
  isMember: boolean;
}

export type CommitStatus = "OK" | "NOT_FOUND" | "NOT_DJ" | "CONFLICT";

/** The playback service's storage: the seed key `room:{roomId}:state.playback`, read and compare-and-set. */
export function createPlaybackStore(redis: RedisClient) {
  return {
    /** The room's timeline and DJ, and whether `userId` is a member; undefined for no room. */
    async read(roomId: string, userId: string): Promise<PlaybackRoom | undefined> {
      const [exists, dj, raw, member] = (await readScript.run(redis, roomScriptKeys(roomId), [userId])) as [
        number,
        string,
        string,
        number,
      ];
      if (exists === 0) return undefined;
      return { timeline: decodePlaybackRecord(raw), currentDjId: dj, isMember: member === 1 };
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
  };
}

export type PlaybackStore = ReturnType<typeof createPlaybackStore>;
