import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { PlaybackChange, type PlaybackSyncSchema } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { RoomEventSchema } from "../../gen/groovebox/room/v1/room_pb.js";
import { playbackStateAt } from "./playback-view.js";
import type { Timeline } from "./timeline.js";

export { PlaybackChange };

/**
 * True when a change makes the room's devices (re)start together at start_at_server_time:
 * a resume, or a seek while playing. (A seek while paused keeps the last start's fields in the
 * timeline; they describe no new start.)
 */
function restartsPlayback(change: PlaybackChange, next: Timeline): boolean {
  return next.playing && (change === PlaybackChange.RESUMED || change === PlaybackChange.SEEKED);
}

/** The room event of a timeline change, as bytes for the room's channel. */
export function playbackEventBytes(roomId: string, next: Timeline, nowMs: number, change: PlaybackChange | "started"): Uint8Array {
  const state = playbackStateAt(roomId, next, nowMs);
  const version = BigInt(next.version);
  const event =
    change === "started"
      ? {
          case: "playbackStarted" as const,
          value: {
            roomId,
            trackId: next.trackId,
            positionMs: next.anchorPositionMs,
            startAtServerTime: next.startAtServerTime,
            syncBufferMs: next.syncBufferMs,
            serverTimestamp: nowMs,
            version,
            state,
          },
        }
      : {
          case: "playbackChanged" as const,
          value: {
            roomId,
            change,
            state,
            ...(restartsPlayback(change, next) ? { startAtServerTime: next.startAtServerTime, syncBufferMs: next.syncBufferMs } : {}),
            positionMs: next.anchorPositionMs,
            serverTimestamp: nowMs,
            version,
          },
        };
  return toBinary(RoomEventSchema, create(RoomEventSchema, { roomId, serverTimestamp: nowMs, event }));
}

/** The room event of a periodic playback_sync, as bytes for the room's channel. */
export function playbackSyncEventBytes(sync: MessageInitShape<typeof PlaybackSyncSchema> & { roomId: string; serverTimestamp: number }): Uint8Array {
  return toBinary(
    RoomEventSchema,
    create(RoomEventSchema, { roomId: sync.roomId, serverTimestamp: sync.serverTimestamp, event: { case: "playbackSync", value: sync } }),
  );
}
