import { LUA_ROOM_KEYS } from "../common/keys.js";
import { LuaScript } from "../common/redis.js";
import { LUA_PROTO_ENCODER, LUA_PUBLISH_ROOM_EVENT } from "../common/room-events.js";

/**
 * The rooms service's Redis scripts. Each touches one room's keys only (one hash tag): it
 * checks, changes the room, and publishes the events of the change with their sequence
 * numbers, atomically. Every script gets KEYS = roomScriptKeys(roomId) and
 * ARGV = roomId, now (ms), grace (ms), empty-room TTL (ms), then its own arguments, and
 * answers {status, next due time or "", room code, extra, changes}: `changes` lists what
 * happened to the room's members ({'joined', user}, {'left', user, reason}, {'dj', previous,
 * current, reason}), so the service can log it.
 *
 * Presence: `K.leaving` holds, per member, the time they leave unless a stream of theirs is
 * attached then: the later of their last call in the room plus the idle period and their
 * last stream's drop plus the grace period. A member with a stream attached stays whatever it
 * says; the sweeper drops their entry once it has passed. A staying member's first stream
 * attaching and last stream going publish member_presence_changed (Member.connected).
 */
const PRELUDE = `${LUA_ROOM_KEYS}${LUA_PROTO_ENCODER}${LUA_PUBLISH_ROOM_EVENT}
local ROOM_ID = ARGV[1]
local NOW = tonumber(ARGV[2])
local GRACE = tonumber(ARGV[3])
local ROOM_TTL = tonumber(ARGV[4])
-- RoomEvent fields and enums (groovebox/room/v1/room.proto)
local EV_MEMBER_JOINED, EV_MEMBER_LEFT, EV_DJ_CHANGED, EV_MEMBER_PRESENCE = 10, 11, 12, 17
local LEAVE_LEFT, LEAVE_TIMED_OUT = 1, 2
local DJ_HANDOFF, DJ_SUCCESSION = 1, 2
-- The keys that live and expire with the room (the clock's RTT index keeps its own TTL).
local ROOM_OWNED = {K.meta, K.currentDj, K.playback, K.members, K.memberOrder, K.memberSessions, K.memberSync,
  K.outputLatency, K.sessions, K.sessionUsers, K.userSessions, K.leaving, K.seq}

local CHANGES = {}
local function note(change) CHANGES[#CHANGES + 1] = change end

local function publish(field, body)
  return publish_room_event(K.seq, K.events, pb_room_event(ROOM_ID, NOW, field, body))
end
local function room_exists() return redis.call('EXISTS', K.meta) == 1 end
local function is_member(user) return redis.call('HEXISTS', K.members, user) == 1 end
local function dj_changed(previous, current, reason)
  note({'dj', previous, current, tostring(reason)})
  publish(EV_DJ_CHANGED, pb_string(1, previous) .. pb_string(2, current) .. pb_uint(3, reason))
end
local function set_room_ttl(ttl)
  for _, key in ipairs(ROOM_OWNED) do
    if ttl then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
  end
end
-- Keeps a member until at least this time (GT: an earlier deadline never shortens a later one).
local function keep_until(user, deadline) redis.call('ZADD', K.leaving, 'GT', deadline, user) end
local function streams_of(user) return tonumber(redis.call('HGET', K.memberSessions, user) or '0') end
-- Member.connected changed for a member who stays (member_presence_changed).
local function presence_changed(user, connected)
  publish(EV_MEMBER_PRESENCE, pb_string(1, user) .. pb_bool(2, connected))
end
-- A member's last stream is gone and they stay: at least for the grace period, disconnected.
local function went_away(user)
  keep_until(user, NOW + GRACE)
  presence_changed(user, false)
end

-- Adds a member (and publishes member_joined); the first member of an empty room is its DJ.
-- Members joining within the same instant still get a strict order (later joins sort later).
local function add_member(user, name, connected)
  if is_member(user) then return false end
  local was_empty = redis.call('ZCARD', K.memberOrder) == 0
  local joined_at = NOW
  local last = redis.call('ZRANGE', K.memberOrder, -1, -1, 'WITHSCORES')[2]
  if last and tonumber(last) >= joined_at then joined_at = tonumber(last) + 0.001 end
  redis.call('HSET', K.members, user, name)
  redis.call('ZADD', K.memberOrder, joined_at, user)
  redis.call('HSET', K.memberSessions, user, 0)
  if was_empty then set_room_ttl(nil) end
  note({'joined', user})
  local dj = redis.call('GET', K.currentDj)
  if not dj then redis.call('SET', K.currentDj, user) end
  publish(EV_MEMBER_JOINED, pb_message(1, pb_string(1, user) .. pb_string(2, name) .. pb_double(3, joined_at)
    .. pb_bool(4, not dj) .. pb_bool(5, connected)))
  if not dj then dj_changed('', user, DJ_SUCCESSION) end
  return true
end

-- Removes a member with their streams (member_left); the longest-present member succeeds a
-- departing DJ (dj_changed); an empty room starts to expire.
local function remove_member(user, reason)
  if not is_member(user) then return false end
  local prefix = user .. ':'
  for _, entry in ipairs(redis.call('ZRANGEBYLEX', K.userSessions, '[' .. prefix, '(' .. user .. ';')) do
    local session = string.sub(entry, #prefix + 1)
    redis.call('ZREM', K.sessions, session)
    redis.call('HDEL', K.sessionUsers, session)
    redis.call('ZREM', K.userSessions, entry)
  end
  redis.call('HDEL', K.members, user)
  redis.call('ZREM', K.memberOrder, user)
  redis.call('ZREM', K.leaving, user)
  redis.call('HDEL', K.memberSessions, user)
  redis.call('HDEL', K.memberSync, user)
  redis.call('ZREM', K.outputLatency, user)
  note({'left', user, tostring(reason)})
  publish(EV_MEMBER_LEFT, pb_string(1, user) .. pb_uint(2, reason))
  if redis.call('GET', K.currentDj) == user then
    local heir = redis.call('ZRANGE', K.memberOrder, 0, 0)[1]
    if heir then
      redis.call('SET', K.currentDj, heir)
      dj_changed(user, heir, DJ_SUCCESSION)
    else
      redis.call('DEL', K.currentDj)
    end
  end
  if redis.call('ZCARD', K.memberOrder) == 0 then set_room_ttl(ROOM_TTL) end
  return true
end

-- Takes a stream out of the room; returns its user and how many streams they have left.
local function drop_session(session)
  local user = redis.call('HGET', K.sessionUsers, session)
  redis.call('ZREM', K.sessions, session)
  if not user then return nil, 0 end
  redis.call('HDEL', K.sessionUsers, session)
  redis.call('ZREM', K.userSessions, user .. ':' .. session)
  return user, redis.call('HINCRBY', K.memberSessions, user, -1)
end

-- The next time something in the room expires (a stream's lease or a grace period).
local function next_due()
  local s = redis.call('ZRANGE', K.sessions, 0, 0, 'WITHSCORES')[2]
  local l = redis.call('ZRANGE', K.leaving, 0, 0, 'WITHSCORES')[2]
  if s == nil then return l or '' end
  if l == nil or tonumber(s) < tonumber(l) then return s end
  return l
end
local function reply(status)
  return {status, next_due(), redis.call('HGET', K.meta, 'room_code') or '', {}, CHANGES}
end
`;

const script = (body: string) => new LuaScript(PRELUDE + body);

/** ARGV 5..9: code, name, creator id, creator name, idle ms. The creator is DJ; creating is a call in the room. */
export const createRoomScript = script(`
if room_exists() then return reply('EXISTS') end
redis.call('HSET', K.meta, 'room_id', ROOM_ID, 'room_code', ARGV[5], 'name', ARGV[6], 'created_at', ARGV[2])
redis.call('HSET', K.members, ARGV[7], ARGV[8])
redis.call('ZADD', K.memberOrder, ARGV[2], ARGV[7])
redis.call('HSET', K.memberSessions, ARGV[7], 0)
redis.call('SET', K.currentDj, ARGV[7])
redis.call('SET', K.seq, 0)
keep_until(ARGV[7], NOW + tonumber(ARGV[9]))
return reply('OK')
`);

/** ARGV 5..7: user, name, idle ms. Joining is a call in the room: the member stays for the idle period. */
export const joinRoomScript = script(`
if not room_exists() then return reply('NOT_FOUND') end
add_member(ARGV[5], ARGV[6], false)
keep_until(ARGV[5], NOW + tonumber(ARGV[7]))
return reply('OK')
`);

/** ARGV 5..9: session, user, name, lease ms, "1" when the user must be a member already. */
export const attachSessionScript = script(`
if not room_exists() then return reply('NOT_FOUND') end
local owner = redis.call('HGET', K.sessionUsers, ARGV[5])
if owner and owner ~= ARGV[6] then return reply('SESSION_TAKEN') end
local added = false
if not is_member(ARGV[6]) then
  if ARGV[9] == '1' then return reply('NOT_MEMBER') end
  added = add_member(ARGV[6], ARGV[7], true)
end
redis.call('ZADD', K.sessions, NOW + tonumber(ARGV[8]), ARGV[5])
if not owner then
  redis.call('HSET', K.sessionUsers, ARGV[5], ARGV[6])
  redis.call('ZADD', K.userSessions, 0, ARGV[6] .. ':' .. ARGV[5])
  -- A member's first stream (member_joined already said so for a new member).
  if redis.call('HINCRBY', K.memberSessions, ARGV[6], 1) == 1 and not added then presence_changed(ARGV[6], true) end
end
return reply('OK')
`);

/** ARGV 5..6: session, "1" to leave now when it was the user's last stream ("0": grace). */
export const detachSessionScript = script(`
local user, left = drop_session(ARGV[5])
if user and left <= 0 then
  if ARGV[6] == '1' then remove_member(user, LEAVE_LEFT) else went_away(user) end
end
return reply('OK')
`);

/** ARGV 5: user. Leaves now, with all the user's streams. */
export const leaveRoomScript = script(`
if not room_exists() then return reply('NOT_FOUND') end
if not remove_member(ARGV[5], LEAVE_LEFT) then return reply('NOT_MEMBER') end
return reply('OK')
`);

/** ARGV 5: lease ms; 6..: sessions. Answers a fourth element: the sessions the room does not know. */
export const renewSessionsScript = script(`
local unknown = {}
local expiry = NOW + tonumber(ARGV[5])
for i = 6, #ARGV do
  if redis.call('ZSCORE', K.sessions, ARGV[i]) then
    redis.call('ZADD', K.sessions, 'XX', expiry, ARGV[i])
  else
    unknown[#unknown + 1] = ARGV[i]
  end
end
local r = reply('OK')
r[4] = unknown
return r
`);

/**
 * ARGV 5: the most streams and the most members handled (a page). Drops streams whose lease ran
 * out (their users start the grace period) and members whose time ran out without a stream
 * attached, at most a page of each, so one call's work is bounded whatever the room's size.
 * Answers a fourth element: {'more'} when a page was full (call again), else {}.
 */
export const sweepRoomScript = script(`
local page = tonumber(ARGV[5])
local expired = redis.call('ZRANGEBYSCORE', K.sessions, '-inf', ARGV[2], 'LIMIT', 0, page)
for _, session in ipairs(expired) do
  local user, left = drop_session(session)
  if user and left <= 0 then went_away(user) end
end
local due = redis.call('ZRANGEBYSCORE', K.leaving, '-inf', ARGV[2], 'LIMIT', 0, page)
for _, user in ipairs(due) do
  -- Every entry handled leaves the set, so the next page starts after this one.
  if streams_of(user) > 0 or not remove_member(user, LEAVE_TIMED_OUT) then redis.call('ZREM', K.leaving, user) end
end
local r = reply('OK')
if #expired == page or #due == page then r[4] = {'more'} end
return r
`);

/** ARGV 5..6: user, idle ms. A member made a call in the room: they stay for the idle period. */
export const touchMemberScript = script(`
if not is_member(ARGV[5]) then return reply('NOT_MEMBER') end
keep_until(ARGV[5], NOW + tonumber(ARGV[6]))
return reply('OK')
`);

/** ARGV 5..6: caller, new DJ. */
export const setDjScript = script(`
if not room_exists() then return reply('NOT_FOUND') end
local dj = redis.call('GET', K.currentDj)
if dj ~= ARGV[5] then return reply('NOT_DJ') end
if not is_member(ARGV[6]) then return reply('NOT_MEMBER') end
if ARGV[6] ~= dj then
  redis.call('SET', K.currentDj, ARGV[6])
  dj_changed(dj, ARGV[6], DJ_HANDOFF)
end
return reply('OK')
`);

/**
 * ARGV 5..9: user, the member's sync as the caller last read it ("" for none), the new sync
 * (JSON), the member_sync_changed event to publish ("" for none), and the report's output
 * latency (ms, for the start buffer's index): a compare-and-set, so two reports never both
 * decide against the same old one. Answers CONFLICT when it moved.
 */
export const reportSyncScript = script(`
if not room_exists() then return reply('NOT_FOUND') end
if not is_member(ARGV[5]) then return reply('NOT_MEMBER') end
if (redis.call('HGET', K.memberSync, ARGV[5]) or '') ~= ARGV[6] then return reply('CONFLICT') end
redis.call('HSET', K.memberSync, ARGV[5], ARGV[7])
redis.call('ZADD', K.outputLatency, ARGV[9], ARGV[5])
if ARGV[8] ~= '' then publish_room_event(K.seq, K.events, ARGV[8]) end
return reply('OK')
`);

/** The whole room at one instant: meta, DJ, playback, members, order, stream counts, seq. */
export const readRoomScript = new LuaScript(`${LUA_ROOM_KEYS}
return {redis.call('HGETALL', K.meta), redis.call('GET', K.currentDj) or '', redis.call('GET', K.playback) or '',
  redis.call('HGETALL', K.members), redis.call('ZRANGE', K.memberOrder, 0, -1, 'WITHSCORES'),
  redis.call('HGETALL', K.memberSessions), redis.call('GET', K.seq) or '0', redis.call('HGETALL', K.memberSync)}
`);
