/**
 * How room events travel on a room's channel (`room:{id}:events`): the frame is the event's
 * sequence number in ASCII, a colon, then the groovebox.room.v1.RoomEvent in binary protobuf
 * (without its seq). The number is put in front inside Redis, by the same script that changes
 * the room's state, so the state change, the increment and the publish are one atomic step.
 */

/**
 * A Lua function for scripts that change a room: bumps the room's sequence number, publishes
 * the event frame on the room's channel (sharded pub/sub), and returns the number. The
 * counter and the channel carry the room's hash tag, like the state the script changes.
 */
export const LUA_PUBLISH_ROOM_EVENT = `
local function publish_room_event(seq_key, channel, payload)
  local seq = redis.call('INCR', seq_key)
  redis.call('SPUBLISH', channel, seq .. ':' .. payload)
  return seq
end
`;

/**
 * Lua functions that write protobuf, for the events a script decides on itself (who leaves,
 * who becomes DJ). Field numbers follow groovebox/room/v1/room.proto. Zero values are left
 * out, as protobuf does.
 */
export const LUA_PROTO_ENCODER = `
local function pb_varint(n)
  local out = {}
  repeat
    local b = n % 128
    n = (n - b) / 128
    if n > 0 then b = b + 128 end
    out[#out + 1] = string.char(b)
  until n == 0
  return table.concat(out)
end
local function pb_string(field, s)
  if s == nil or s == '' then return '' end
  return pb_varint(field * 8 + 2) .. pb_varint(#s) .. s
end
local function pb_uint(field, n)
  if n == 0 then return '' end
  return pb_varint(field * 8) .. pb_varint(n)
end
local function pb_bool(field, b)
  if not b then return '' end
  return pb_varint(field * 8) .. string.char(1)
end
local function pb_double(field, x)
  if x == 0 then return '' end
  return pb_varint(field * 8 + 1) .. struct.pack('<d', x)
end
local function pb_message(field, bytes)
  return pb_varint(field * 8 + 2) .. pb_varint(#bytes) .. bytes
end
-- RoomEvent {room_id = 1, server_timestamp = 3, oneof event = 10..17}
local function pb_room_event(room_id, now, field, body)
  return pb_string(1, room_id) .. pb_double(3, now) .. pb_message(field, body)
end
`;

const COLON = 0x3a;

/** Splits a frame into its sequence number and the RoomEvent bytes. */
export function decodeRoomEventFrame(frame: Uint8Array): { seq: bigint; body: Uint8Array } {
  const colon = frame.indexOf(COLON);
  if (colon <= 0 || colon > 20) throw new Error("room event frame has no sequence number");
  const digits = Buffer.from(frame.subarray(0, colon)).toString("latin1");
  if (!/^\d+$/.test(digits)) throw new Error("room event frame has a bad sequence number");
  return { seq: BigInt(digits), body: frame.subarray(colon + 1) };
}
