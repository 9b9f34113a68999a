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

const COLON = 0x3a;

/** Splits a frame into its sequence number and the RoomEvent bytes. */
export function decodeRoomEventFrame(frame: Uint8Array): { seq: bigint; body: Uint8Array } {
  const colon = frame.indexOf(COLON);
  if (colon <= 0 || colon > 20) throw new Error("room event frame has no sequence number");
  const digits = Buffer.from(frame.subarray(0, colon)).toString("latin1");
  if (!/^\d+$/.test(digits)) throw new Error("room event frame has a bad sequence number");
  return { seq: BigInt(digits), body: frame.subarray(colon + 1) };
}
