import { create, toBinary } from "@bufbuild/protobuf";
import { PlaybackChange } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { RoomEventSchema } from "../../gen/groovebox/room/v1/room_pb.js";
import { playbackStateAt } from "./playback-view.js";
import type { Timeline } from "./timeline.js";

export { PlaybackChange };

/** The room event of a timeline change, as bytes for the room's channel. */
export function playbackEventBytes(roomId: string, next: Timeline, nowMs: number, change: PlaybackChange | "started"): Uint8Array {
  const state = playbackStateAt(roomId, next, nowMs);
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
            version: BigInt(next.version),
            state,
          },
        }
      : { case: "playbackChanged" as const, value: { roomId, change, state } };
  return toBinary(RoomEventSchema, create(RoomEventSchema, { roomId, serverTimestamp: nowMs, event }));
}
