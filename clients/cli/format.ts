import type { PlaybackState } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { PlaybackStatus } from "../../gen/groovebox/playback/v1/playback_pb.js";
import type { RoomState } from "../../gen/groovebox/room/v1/room_pb.js";
import { formatPosition } from "../sdk/index.js";

/** One line about the room's timeline. */
export function describePlayback(p: PlaybackState | undefined): string {
  if (p === undefined || p.status === PlaybackStatus.IDLE || p.status === PlaybackStatus.UNSPECIFIED) return "nothing playing";
  const where = `${p.trackId} at ${formatPosition(p.currentPosition)}`;
  if (!p.playing) return `paused: ${where}`;
  const wait = p.startAtServerTime - p.serverTimestamp;
  return wait > 0 ? `playing: ${p.trackId}, starts in ${Math.round(wait)} ms at ${formatPosition(p.anchorPositionMs)}` : `playing: ${where}`;
}

/**
 * The members, one per line, fitting 80 columns, in the watch's words: "live" while a stream
 * of theirs is attached, "calls" for a member here by their calls (or just after a drop).
 */
export function describeMembers(state: RoomState): string[] {
  return state.members.map((m) => {
    const role = m.isDj ? "DJ" : "";
    const presence = m.connected ? "live" : "calls";
    return `  ${m.displayName.slice(0, 24).padEnd(24)} ${role.padEnd(3)} ${presence.padEnd(6)} ${m.userId}`;
  });
}
